//! Stable re-planning: among plans of equal objective, re-planning prefers the one that moves
//! fewer operations (then the smaller total shift). Measured against objective-only
//! re-planning (`replan_with(.., stable = false, ..)`, the behaviour before) on the example
//! plant's events and on a generated instance; the numbers are in docs/scheduling.md.

use std::sync::atomic::AtomicBool;

use schedule::shop::{
    Shop, ShopEvent, ShopOptions, ShopPlan, ShopReplanned, check, replan_with, solve,
};

mod support;
use support::{order, read};

fn opts(iterations: u64, seed: u64) -> ShopOptions {
    ShopOptions {
        time_limit: None,
        iteration_limit: Some(iterations),
        seed,
        warm_start: None,
    }
}

/// The example plant with `orders` (id, product, release hours, weight).
fn planned(orders: &[(String, String, f64, f64)]) -> (Shop, ShopPlan, Vec<i64>) {
    let m = model::load("plant.toml", &read("examples/plant-two-products.toml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let os: Vec<model::Order> = orders
        .iter()
        .map(|(id, p, r, w)| order(&m, id, p, *r, *w))
        .collect();
    let (shop, _) = schedule::plant::shop_from_model(&m, &os).unwrap_or_else(|e| panic!("{e}"));
    let sol = solve(&shop, &opts(40, 1), &AtomicBool::new(false), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    (shop, sol.plan, schedule::plan_doc::targets_min(&m))
}

fn example_orders() -> Vec<(String, String, f64, f64)> {
    read("examples/schedule/plant-two-products-orders.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].parse().unwrap_or_else(|e| panic!("{e}")),
                f[4].parse().unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect()
}

/// `n` orders of the two products (one in three car-t-short), released every 20 to 39 hours
/// (seeded LCG).
fn generated_orders(n: usize, seed: u64) -> Vec<(String, String, f64, f64)> {
    let mut x = seed;
    let mut t = 0.0;
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            t += 20.0 + ((x >> 33) % 20) as f64;
            let p = if (x >> 40).is_multiple_of(3) {
                "car-t-short"
            } else {
                "car-t"
            };
            (format!("G{i:03}"), p.to_string(), t, 1.0)
        })
        .collect()
}

fn both(shop: &Shop, plan: &ShopPlan, now: i64, events: &[ShopEvent]) -> [ShopReplanned; 2] {
    let run = |stable| {
        let r = replan_with(
            shop,
            plan,
            now,
            events,
            &opts(40, 3),
            stable,
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(check(&r.shop, &r.solution.plan).is_empty());
        r
    };
    [run(false), run(true)]
}

fn line(what: &str, r: &[ShopReplanned; 2]) -> String {
    format!(
        "{what}: objective-only {:?} moved {}/{} by {} min; stable {:?} moved {}/{} by {} min",
        r[0].solution.cost,
        r[0].moves.len(),
        r[0].compared,
        r[0].total_shift,
        r[1].solution.cost,
        r[1].moves.len(),
        r[1].compared,
        r[1].total_shift
    )
}

/// The stable plan is at least as good in the objective's first criterion and moves fewer
/// operations; `strictly` when it must move strictly fewer.
fn assert_stabler(what: &str, r: &[ShopReplanned; 2], strictly: bool) {
    let msg = line(what, r);
    eprintln!("{msg}");
    assert!(r[1].solution.cost <= r[0].solution.cost, "{msg}");
    if strictly {
        assert!(r[1].moves.len() < r[0].moves.len(), "{msg}");
    } else {
        assert!(r[1].moves.len() <= r[0].moves.len(), "{msg}");
    }
}

#[test]
fn a_small_delay_moves_fewer_operations_on_the_example() {
    let (shop, plan, targets) = planned(&example_orders());
    // the example's events at 210 h (docs/scheduling.md)
    let events = schedule::shop::parse_events(
        &read("examples/schedule/plant-two-products-events.csv"),
        &shop,
        &targets,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = both(&shop, &plan, 210 * 60, &events);
    assert_stabler("example events at 210 h", &r, false);
    // a small delay alone: O006's culture takes 3 hours longer
    let small = schedule::shop::parse_events(
        "kind,order,step,resource,from_h,to_h,hours,product,release_h,due_h,weight\n\
         delay,O006,bioreactor-culture,,,,3,,,,\n",
        &shop,
        &targets,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = both(&shop, &plan, 210 * 60, &small);
    assert_stabler("example, 3 h delay at 210 h", &r, false);
}

#[test]
fn a_small_delay_moves_fewer_operations_on_a_generated_instance() {
    let (shop, plan, _) = planned(&generated_orders(30, 7));
    // as of day 5, the second step of the first order that has not started it takes 2 h longer
    let now = 5 * 1440;
    let job = (0..shop.jobs.len())
        .find(|&j| {
            plan.ops
                .iter()
                .any(|o| o.job == j && o.op == 1 && o.start >= now)
        })
        .expect("an order not started");
    let events = vec![ShopEvent::Delay {
        job,
        op: 1,
        minutes: 120,
    }];
    let r = both(&shop, &plan, now, &events);
    assert_stabler("generated 30 orders, 2 h delay", &r, true);
}
