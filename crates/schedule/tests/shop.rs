//! The plant model: several products, staff shifts, maintenance, blocking, hold limits,
//! objectives; every plan is verified by the independent checker, and the checker is shown
//! to catch each kind of broken constraint.

use std::sync::atomic::AtomicBool;

use schedule::shop::{
    Batch, FixedOp, Goal, Measure, Need, Operation, Resource, ResourceKind, Route, Segment, Shop,
    ShopOptions, ShopPlan, ShopViolation, check, solve,
};

fn unit(name: &str, pool: &str) -> Resource {
    Resource {
        name: name.into(),
        pool: pool.into(),
        kind: ResourceKind::Unit,
        capacity: 1,
        segments: Vec::new(),
    }
}

fn op(name: &str, duration: i64, needs: Vec<Need>) -> Operation {
    Operation {
        name: name.into(),
        duration,
        needs,
        cleaning: 0,
        min_lag: 0,
        max_lag: None,
        blocking: false,
    }
}

fn need(candidates: &[usize], count: u32, hold: Option<i64>) -> Need {
    Need {
        candidates: candidates.to_vec(),
        count,
        hold,
    }
}

/// Resources: 0, 1 = bioreactors; 2 = isolator; 3 = operators (two on duty 06:00–14:00,
/// one 14:00–22:00, every day, in minutes); 4 = cleanroom with two places.
/// Product 0 (car-t): prep (isolator, 1 operator for 60 of 120 min) -> expansion (a
/// bioreactor, 3 days, blocking, hold limit 12 h) -> harvest (isolator, 2 operators).
/// Product 1 (tcr-t): prep (isolator, 1 operator) -> expansion (a bioreactor, 5 days).
fn plant(orders: usize) -> Shop {
    let day = 24 * 60;
    let mut ops_staff = Resource {
        name: "operators".into(),
        pool: "operators".into(),
        kind: ResourceKind::Staff,
        capacity: 0,
        segments: Vec::new(),
    };
    for d in 0..60 {
        ops_staff.segments.push(Segment {
            start: d * day + 6 * 60,
            end: d * day + 14 * 60,
            capacity: 2,
        });
        ops_staff.segments.push(Segment {
            start: d * day + 14 * 60,
            end: d * day + 22 * 60,
            capacity: 1,
        });
    }
    let cleanroom = Resource {
        name: "cleanroom".into(),
        pool: "cleanroom".into(),
        kind: ResourceKind::Place,
        capacity: 2,
        segments: Vec::new(),
    };
    let mut prep = op(
        "prep",
        120,
        vec![
            need(&[2], 1, None),
            need(&[3], 1, Some(60)),
            need(&[4], 1, None),
        ],
    );
    prep.cleaning = 30;
    prep.min_lag = 15;
    let mut expand = op("expansion", 3 * day, vec![need(&[0, 1], 1, None)]);
    expand.blocking = true;
    expand.max_lag = Some(12 * 60);
    expand.cleaning = 60;
    let harvest = op(
        "harvest",
        90,
        vec![need(&[2], 1, None), need(&[3], 2, Some(90))],
    );
    let tcr_prep = op("prep", 100, vec![need(&[2], 1, None), need(&[3], 1, None)]);
    let tcr_expand = op("expansion", 5 * day, vec![need(&[0, 1], 1, None)]);
    let jobs = (0..orders)
        .map(|i| Batch {
            name: format!("P{i}"),
            product: i % 2,
            release: (i as i64) * day / 2,
            due: (i as i64) * day / 2 + 8 * day,
            weight: 1 + (i as i64 % 3),
        })
        .collect();
    Shop {
        name: "two products".into(),
        resources: vec![
            unit("bioreactor#1", "bioreactor"),
            unit("bioreactor#2", "bioreactor"),
            unit("isolator#1", "isolator"),
            ops_staff,
            cleanroom,
        ],
        products: vec![
            Route {
                name: "car-t".into(),
                ops: vec![prep, expand, harvest],
                variant_of: None,
            },
            Route {
                name: "tcr-t".into(),
                ops: vec![tcr_prep, tcr_expand],
                variant_of: None,
            },
        ],
        jobs,
        fixed: Vec::new(),
        not_before: 0,
        goal: Goal::default(),
    }
}

fn opts(iterations: u64) -> ShopOptions {
    ShopOptions {
        time_limit: None,
        iteration_limit: Some(iterations),
        seed: 7,
        warm_start: None,
    }
}

fn run(shop: &Shop, iterations: u64) -> schedule::shop::ShopSolution {
    let cancel = AtomicBool::new(false);
    solve(shop, &opts(iterations), &cancel, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn two_products_with_staff_shifts_get_a_checked_plan() {
    let shop = plant(8);
    let sol = run(&shop, 30);
    assert!(check(&shop, &sol.plan).is_empty());
    // every manual part lies within a shift with enough operators on duty
    let staff = &shop.resources[3];
    for o in &sol.plan.ops {
        for u in o.uses.iter().filter(|u| u.resource == 3) {
            for t in u.start..u.end {
                assert!(
                    staff.capacity_at(t) >= u.amount,
                    "order {} op {} uses {} operators at {t}",
                    o.job,
                    o.op,
                    u.amount
                );
            }
        }
    }
    // a harvest needs two operators: only in the early shift (06:00-14:00)
    for o in sol.plan.ops.iter().filter(|o| o.op == 2) {
        let minute_of_day = o.start.rem_euclid(24 * 60);
        assert!(
            (6 * 60..14 * 60 - 90 + 1).contains(&minute_of_day),
            "harvest at {minute_of_day}"
        );
    }
    // both products are in the plan, and objective values are those of the plan
    assert!(sol.plan.ops.iter().any(|o| o.job % 2 == 1));
    assert_eq!(sol.values, sol.plan.values(&shop));
}

#[test]
fn blocked_bioreactors_stay_held_until_harvest_starts() {
    let shop = plant(6);
    let sol = run(&shop, 10);
    for j in (0..6).filter(|j| j % 2 == 0) {
        let ops: Vec<_> = sol.plan.ops.iter().filter(|o| o.job == j).collect();
        let expansion = ops[1];
        let harvest = ops[2];
        assert_eq!(expansion.uses.len(), 1);
        assert_eq!(
            expansion.uses[0].end, harvest.start,
            "order P{j}: the bioreactor is held until the harvest starts"
        );
        assert!(harvest.start - expansion.end <= 12 * 60, "hold limit");
    }
}

#[test]
fn maintenance_windows_are_planned_around() {
    let mut shop = plant(6);
    // bioreactor 1 is in requalification for days 1 to 6; the isolator is serviced on day 0
    shop.resources[0].segments = vec![Segment {
        start: 24 * 60,
        end: 6 * 24 * 60,
        capacity: 0,
    }];
    shop.resources[2].segments = vec![Segment {
        start: 0,
        end: 10 * 60,
        capacity: 0,
    }];
    let sol = run(&shop, 10);
    assert!(check(&shop, &sol.plan).is_empty());
    for o in &sol.plan.ops {
        for u in &o.uses {
            if u.resource == 0 {
                let end = u.end + if o.op == 1 && o.job % 2 == 0 { 60 } else { 0 };
                assert!(
                    end <= 24 * 60 || u.start >= 6 * 24 * 60,
                    "bioreactor#1 used [{}, {end}) during its requalification",
                    u.start
                );
            }
            if u.resource == 2 {
                assert!(u.start >= 10 * 60, "isolator used during its service");
            }
        }
    }
}

#[test]
fn objectives_are_lexicographic_or_weighted_as_stated() {
    let mut shop = plant(8);
    shop.goal = Goal::Lexicographic {
        criteria: vec![Measure::Makespan],
    };
    let a = run(&shop, 20);
    assert_eq!(a.cost[0], a.values.makespan);
    shop.goal = Goal::Weighted {
        terms: vec![
            (Measure::WeightedTardiness, 2.0),
            (Measure::TotalFlowTime, 0.5),
        ],
    };
    let b = run(&shop, 20);
    let want = 2.0 * b.values.weighted_tardiness as f64 + 0.5 * b.values.total_flow_time as f64;
    assert_eq!(b.cost[0], want.round() as i64);
    shop.goal = Goal::Lexicographic {
        criteria: vec![Measure::Makespan, Measure::Makespan],
    };
    assert!(shop.validate().is_err());
    shop.goal = Goal::Weighted {
        terms: vec![(Measure::Makespan, -1.0)],
    };
    assert!(shop.validate().is_err());
}

#[test]
fn same_seed_same_plan() {
    let shop = plant(10);
    let a = run(&shop, 15);
    let b = run(&shop, 15);
    assert_eq!(a.plan, b.plan);
    assert_eq!(a.permutation, b.permutation);
}

#[test]
fn a_need_no_shift_can_meet_is_an_error_naming_the_order() {
    let mut shop = plant(2);
    // a harvest needing three operators: never three on duty
    shop.products[0].ops[2].needs[1].count = 3;
    let cancel = AtomicBool::new(false);
    let e = solve(&shop, &opts(2), &cancel, &mut |_, _| {}).expect_err("cannot be staffed");
    let msg = e.to_string();
    assert!(msg.contains("P0") && msg.contains("harvest"), "{msg}");
}

#[test]
fn fixed_operations_stay_and_the_rest_is_planned_after_them() {
    let base = plant(4);
    let first = run(&base, 5);
    let mut shop = base.clone();
    // order P0's preparation has started: it is fixed
    let p0 = first.plan.ops[0].clone();
    shop.fixed.push(FixedOp {
        job: 0,
        op: 0,
        start: p0.start,
        uses: p0.uses.clone(),
    });
    shop.not_before = p0.start + 1;
    let sol = run(&shop, 5);
    assert!(check(&shop, &sol.plan).is_empty());
    assert_eq!(sol.plan.ops[0].start, p0.start);
    assert!(sol.plan.ops[1..].iter().all(|o| o.start > p0.start));
}

/// Each kind of broken constraint is reported by the checker.
#[test]
fn the_checker_catches_every_kind_of_violation() {
    let shop = plant(6);
    let sol = run(&shop, 5);
    let kinds = |p: &ShopPlan| -> Vec<String> {
        check(&shop, p)
            .iter()
            .map(|v| {
                format!("{v:?}")
                    .split([' ', '(', '{'])
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    assert!(kinds(&sol.plan).is_empty());

    // a missing operation
    let mut p = sol.plan.clone();
    p.ops.pop();
    assert_eq!(kinds(&p), ["Shape"]);

    // an expansion shortened
    let mut p = sol.plan.clone();
    p.ops[1].end -= 1;
    assert!(kinds(&p).contains(&"Duration".to_string()));

    // an order started before its release
    let mut p = sol.plan.clone();
    let i = 3; // P1's preparation (P0 has three operations)
    let shift = p.ops[i].start - shop.jobs[1].release + 1;
    for o in p.ops.iter_mut().filter(|o| o.job == 1) {
        o.start -= shift;
        o.end -= shift;
        for u in &mut o.uses {
            u.start -= shift;
            u.end -= shift;
        }
    }
    assert!(kinds(&p).contains(&"Early".to_string()), "{:?}", kinds(&p));

    // the harvest moved past the hold limit (the bioreactor hold moves with it)
    let mut p = sol.plan.clone();
    p.ops[2].start += 13 * 60;
    p.ops[2].end += 13 * 60;
    for u in &mut p.ops[2].uses {
        u.start += 13 * 60;
        u.end += 13 * 60;
    }
    p.ops[1].uses[0].end = p.ops[2].start;
    assert!(kinds(&p).contains(&"Lag".to_string()), "{:?}", kinds(&p));

    // the bioreactor released before the harvest starts
    let mut p = sol.plan.clone();
    p.ops[1].uses[0].end = p.ops[2].start - 1;
    assert!(kinds(&p).contains(&"Need".to_string()));

    // the same bioreactor for P0's and P1's expansions at the same time
    let mut p = sol.plan.clone();
    p.ops[4].uses[0] = schedule::shop::Usage {
        need: 0,
        ..p.ops[1].uses[0]
    };
    assert!(
        kinds(&p).contains(&"Capacity".to_string()),
        "{:?}",
        kinds(&p)
    );

    // a manual part planned at night (no operator on duty)
    let mut p = sol.plan.clone();
    let night = (p.ops[0].start / (24 * 60) + 1) * 24 * 60 + 60;
    let d = night - p.ops[0].start;
    p.ops[0].start += d;
    p.ops[0].end += d;
    for u in &mut p.ops[0].uses {
        u.start += d;
        u.end += d;
    }
    let v = check(&shop, &p);
    assert!(
        v.iter().any(
            |x| matches!(x, ShopViolation::Capacity { resource, .. } if resource == "operators")
        ),
        "{v:?}"
    );
    assert!(v.iter().all(|x| !x.to_string().is_empty()));

    // a need served by a resource that is not a candidate
    let mut p = sol.plan.clone();
    p.ops[0].uses[0].resource = 0;
    assert!(kinds(&p).contains(&"Need".to_string()));

    // a fixed operation moved
    let mut fixed = shop.clone();
    fixed.fixed.push(FixedOp {
        job: 0,
        op: 0,
        start: sol.plan.ops[0].start + 5,
        uses: sol.plan.ops[0].uses.clone(),
    });
    let v = check(&fixed, &sol.plan);
    assert!(
        v.iter()
            .any(|x| matches!(x, ShopViolation::FixedMoved { .. })),
        "{v:?}"
    );
}

#[test]
fn malformed_shops_are_rejected_with_the_place_named() {
    // Why validation refuses the shop `s` (`what` the test expects it to refuse).
    let refusal = |s: &Shop, what: &str| s.validate().expect_err(what).to_string();
    let mut s = plant(2);
    s.products[0].ops[1].needs[0].candidates = vec![0, 3];
    let e = refusal(&s, "mixed kinds");
    assert!(e.contains("expansion") && e.contains("mix"), "{e}");

    let mut s = plant(2);
    s.products[0].ops[0].needs[0].candidates = vec![99];
    assert!(refusal(&s, "missing resource").contains("#99"));

    let mut s = plant(2);
    s.jobs[1].product = 5;
    assert!(refusal(&s, "no product").contains("P1"));

    let mut s = plant(2);
    s.products[0].ops[1].max_lag = Some(-5);
    assert!(refusal(&s, "hold below transfer").contains("hold limit"));

    let mut s = plant(2);
    s.resources[3].segments.swap(0, 1);
    assert!(refusal(&s, "unsorted shifts").contains("operators"));

    let mut s = plant(2);
    s.fixed.push(FixedOp {
        job: 0,
        op: 1,
        start: 0,
        uses: Vec::new(),
    });
    assert!(refusal(&s, "fixed without predecessor").contains("before it"));
}

#[test]
fn promise_keeps_every_committed_operation_and_booking_adds_the_order() {
    use schedule::shop::{PromiseQuery, book, promise};
    let shop = plant(8);
    let sol = run(&shop, 10);
    let day = 24 * 60;
    let q = PromiseQuery {
        name: "NEW".into(),
        product: 1,
        candidates: (0..20).map(|d| d * day + 8 * 60).collect(),
        lead: 9 * day,
        weight: 1,
    };
    let p = promise(&shop, &sol.plan, &q).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.offers.len(), 20);
    assert!(p.offers.windows(2).all(|w| w[0].release < w[1].release));
    let first = p
        .earliest
        .unwrap_or_else(|| panic!("some date is offered: {:?}", p.offers));
    assert!(first.on_time && first.ready.is_some_and(|r| r <= first.release + q.lead));
    // every offer, booked, leaves the committed plan unchanged and passes the checker
    for o in p.offers.iter().filter(|o| o.ready.is_some()).take(5) {
        let (s2, p2) = book(&shop, &sol.plan, &q, o.release).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s2.jobs.len(), 9);
        assert_eq!(&p2.ops[..sol.plan.ops.len()], &sol.plan.ops[..]);
        assert!(check(&s2, &p2).is_empty());
        assert_eq!(p2.completions(&s2)[8], o.ready.unwrap_or_default());
    }
    // the shift calendar ends on day 60: a car-t order from day 58 cannot be harvested
    let mut q2 = q.clone();
    q2.product = 0;
    q2.candidates = vec![58 * day, 59 * day];
    let p = promise(&shop, &sol.plan, &q2).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        p.earliest.is_none() && p.offers.iter().all(|o| o.ready.is_none()),
        "{p:?}"
    );
    assert!(book(&shop, &sol.plan, &q2, 58 * day).is_err());
    // a duplicate order name is refused
    let mut q3 = q.clone();
    q3.name = "P0".into();
    assert!(promise(&shop, &sol.plan, &q3).is_err());
}

#[test]
fn replan_keeps_started_work_and_reports_what_moved() {
    use schedule::shop::{ShopEvent, replan};
    let shop = plant(8);
    let sol = run(&shop, 10);
    let day = 24 * 60;
    let now = 2 * day;
    let cancel = AtomicBool::new(false);
    // bioreactor 1 breaks down for two days; P1's expansion takes a day longer; P3 fails and is
    // made again; a new order arrives; P5 is cancelled
    let events = vec![
        ShopEvent::Breakdown {
            resource: 0,
            from: now,
            to: now + 2 * day,
            amount: None,
        },
        ShopEvent::Delay {
            job: 1,
            op: 1,
            minutes: day,
        },
        ShopEvent::Failed {
            job: 3,
            restart: Some(now + day),
        },
        ShopEvent::NewOrder(Batch {
            name: "N1".into(),
            product: 0,
            release: now,
            due: now + 8 * day,
            weight: 2,
        }),
        ShopEvent::Cancelled { job: 5 },
    ];
    let r = replan(
        &shop,
        &sol.plan,
        now,
        &events,
        &opts(10),
        &cancel,
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(check(&r.shop, &r.solution.plan).is_empty());
    assert_eq!(r.job_map[3], None);
    assert_eq!(r.job_map[5], None);
    let names: Vec<&str> = r.shop.jobs.iter().map(|b| b.name.as_str()).collect();
    assert!(
        names.contains(&"P3/re") && names.contains(&"N1"),
        "{names:?}"
    );
    // started operations did not move
    for old in sol.plan.ops.iter().filter(|o| o.start < now) {
        let Some(nj) = r.job_map[old.job] else {
            continue;
        };
        let new = r
            .solution
            .plan
            .ops
            .iter()
            .find(|o| o.job == nj && o.op == old.op)
            .unwrap_or_else(|| panic!("op"));
        assert_eq!(new.start, old.start);
    }
    // nothing new starts before now, nothing runs on bioreactor 1 during its outage
    for o in &r.solution.plan.ops {
        let started = r.shop.fixed.iter().any(|f| f.job == o.job && f.op == o.op);
        assert!(started || o.start >= now);
        if !started {
            for u in o.uses.iter().filter(|u| u.resource == 0) {
                assert!(u.end <= now || u.start >= now + 2 * day, "{u:?}");
            }
        }
    }
    // the stability report is consistent
    assert!(r.moves.len() <= r.compared);
    assert_eq!(
        r.total_shift,
        r.moves
            .iter()
            .map(|m| (m.new_start - m.old_start).abs())
            .sum::<i64>()
    );
    assert!(
        r.moves
            .iter()
            .all(|m| m.old_start != m.new_start || m.old_resources != m.new_resources)
    );
    // events that refer to nothing are refused
    let bad = [ShopEvent::Failed {
        job: 99,
        restart: None,
    }];
    assert!(
        replan(
            &shop,
            &sol.plan,
            now,
            &bad,
            &opts(1),
            &cancel,
            &mut |_, _| {}
        )
        .is_err()
    );
}
