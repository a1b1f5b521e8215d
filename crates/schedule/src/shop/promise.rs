//! Capable-to-promise and slot booking: for a new order of a given product, which apheresis
//! dates can the plant still accept without moving any operation of the committed plan (so
//! every promise already made is kept), and when would the product be ready?

use serde::Serialize;

use super::check::check;
use super::decode::ShopDecoder;
use super::solve::plan_of;
use super::{Batch, FixedOp, Shop, ShopPlan};
use crate::error::ScheduleError;
use crate::instance::Time;

/// A capable-to-promise question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromiseQuery {
    /// Order identifier (used when booking).
    pub name: String,
    /// Product index.
    pub product: usize,
    /// Apheresis instants to try, in any order.
    pub candidates: Vec<Time>,
    /// Target vein-to-vein time: the order is due this long after its apheresis.
    pub lead: Time,
    /// Weight of its tardiness.
    pub weight: i64,
}

/// The answer for one apheresis instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Offer {
    /// Apheresis (release of the order).
    pub release: Time,
    /// When the product would be ready (end of its last operation); `None` if it cannot be
    /// planned without moving committed work (hold limits, capacity).
    pub ready: Option<Time>,
    /// Ready within the target vein-to-vein time.
    pub on_time: bool,
}

/// The answer to a [`PromiseQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Promise {
    /// One offer per candidate, in time order.
    pub offers: Vec<Offer>,
    /// The earliest candidate that can be planned and is ready on time.
    pub earliest: Option<Offer>,
}

/// The shop with every operation of `plan` fixed where it is (committed).
pub fn commit(shop: &Shop, plan: &ShopPlan) -> Result<Shop, ScheduleError> {
    let v = check(shop, plan);
    if let Some(x) = v.first() {
        return Err(ScheduleError::Invalid(format!(
            "the committed plan does not fit its plant: {x}"
        )));
    }
    let mut s = shop.clone();
    s.fixed = plan
        .ops
        .iter()
        .map(|o| FixedOp {
            job: o.job,
            op: o.op,
            start: o.start,
            uses: o.uses.clone(),
        })
        .collect();
    Ok(s)
}

fn with_order(committed: &Shop, q: &PromiseQuery, release: Time) -> Shop {
    let mut s = committed.clone();
    s.jobs.push(Batch {
        name: q.name.clone(),
        product: q.product,
        release,
        due: release.saturating_add(q.lead),
        weight: q.weight,
    });
    s
}

fn check_query(shop: &Shop, q: &PromiseQuery) -> Result<(), ScheduleError> {
    if q.product >= shop.products.len() {
        return Err(ScheduleError::Invalid(format!(
            "product #{} does not exist",
            q.product
        )));
    }
    if q.lead < 0 || q.weight < 0 {
        return Err(ScheduleError::Invalid(
            "target vein-to-vein time and weight must not be negative".into(),
        ));
    }
    if shop.jobs.iter().any(|b| b.name == q.name) {
        return Err(ScheduleError::Invalid(format!(
            "order {} is already in the plan",
            q.name
        )));
    }
    Ok(())
}

/// Answers `q` against the committed `plan` of `shop`: for each candidate apheresis instant,
/// the new order is planned on top of the plan without moving anything in it.
pub fn promise(shop: &Shop, plan: &ShopPlan, q: &PromiseQuery) -> Result<Promise, ScheduleError> {
    check_query(shop, q)?;
    let committed = commit(shop, plan)?;
    let mut cands = q.candidates.clone();
    cands.sort_unstable();
    cands.dedup();
    let mut offers = Vec::with_capacity(cands.len());
    let j = shop.jobs.len();
    for r in cands {
        let s = with_order(&committed, q, r);
        s.validate()?;
        let mut dec = ShopDecoder::new(&s);
        let ready = match dec.decode(&[j]) {
            Ok(()) => Some(dec.end[dec.off[j + 1] - 1]),
            Err(_) => None,
        };
        offers.push(Offer {
            release: r,
            ready,
            on_time: ready.is_some_and(|c| c <= r.saturating_add(q.lead)),
        });
    }
    let earliest = offers.iter().find(|o| o.on_time).copied();
    Ok(Promise { offers, earliest })
}

/// Books the order of `q` with apheresis at `release` into the committed plan: returns the
/// shop with the new order (fixed operations as before) and the plan with it added; nothing
/// already planned moves. Fails if the order cannot be planned there.
pub fn book(
    shop: &Shop,
    plan: &ShopPlan,
    q: &PromiseQuery,
    release: Time,
) -> Result<(Shop, ShopPlan), ScheduleError> {
    check_query(shop, q)?;
    let committed = commit(shop, plan)?;
    let s = with_order(&committed, q, release);
    s.validate()?;
    let j = shop.jobs.len();
    let mut dec = ShopDecoder::new(&s);
    if dec.decode(&[j]).is_err() {
        return Err(ScheduleError::Invalid(format!(
            "order {} cannot be planned with apheresis at {release} without moving committed work",
            q.name
        )));
    }
    let new_plan = plan_of(&s, &dec);
    let mut out = s.clone();
    out.fixed.clone_from(&shop.fixed);
    for (name, sh) in [("committed", &s), ("booked", &out)] {
        if let Some(v) = check(sh, &new_plan).first() {
            return Err(ScheduleError::CheckFailed(format!("{name}: {v}")));
        }
    }
    Ok((out, new_plan))
}
