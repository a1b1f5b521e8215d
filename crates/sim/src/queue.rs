//! Waiting batches, kept per step in the order of every dispatching rule the step meets.
//!
//! Batches waiting for the same step need the same resources, so within one dispatch pass a
//! step whose uses cannot be seized stays blocked (units only get scarcer while a pass starts
//! steps), and all its batches would get the same units. Keeping the batches of a step in
//! sorted order lets a pass look at the front of each step instead of sorting every waiting
//! batch. The order of a step is a sorted double-ended vector while it is short: under `fifo`
//! a batch joins at the back and most leave from the front, both without moving the others,
//! and the queues of a plant are short, so this beats a balanced tree (which allocates a node
//! per queue that becomes non-empty). A queue that grows long (a plant that cannot keep up)
//! becomes a balanced tree until it is short again, so that joining in its middle stays cheap.
//!
//! Batches competing for one pool are ranked by that pool's own rule, and a step may use
//! pools with different rules (a device pool `fifo`, the operators `edd`). A step therefore
//! keeps one sorted order per distinct rule of the pools it can use: the order for rule `R`
//! sorts the step's batches by (key under `R`, ready time, batch index). The first rule of a
//! step is its *primary* rule, that of the first candidate of its first use; when every pool
//! has the same rule, a step has one order and the dispatch reduces to trying the batches in
//! that one order.

use std::cmp::Ordering;
use std::collections::{BTreeSet, VecDeque};

use model::Dispatch;

/// Number of dispatching rules.
pub(crate) const RULES: usize = 3;

/// A batch's dispatching keys, indexed by [`rule_index`]; only the rules of its step's pools
/// are meaningful.
pub(crate) type Keys = [f64; RULES];

/// Index of a rule in [`Keys`].
pub(crate) fn rule_index(d: Dispatch) -> usize {
    match d {
        Dispatch::Fifo => 0,
        Dispatch::Edd => 1,
        Dispatch::LeastSlack => 2,
    }
}

/// A batch's place in one order: key under the order's rule, then the time it became ready,
/// then its index (the order of creation), so that ties are broken the same way on every run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub key: f64,
    pub ready: f64,
    pub batch: usize,
}

impl PartialEq for Place {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Place {}
impl PartialOrd for Place {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Place {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key
            .total_cmp(&o.key)
            .then(self.ready.total_cmp(&o.ready))
            .then(self.batch.cmp(&o.batch))
    }
}

/// The batches waiting for one step, once per rule of its pools.
#[derive(Debug, Clone)]
struct StepQueue {
    /// Rule indices, the primary rule first, no repeats.
    rules: Vec<usize>,
    /// One sorted order (ascending, no repeats) per entry of `rules`, all holding the same
    /// batches.
    orders: Vec<Order>,
}

/// Length from which an order is a balanced tree: joining in the middle of a long vector would
/// move half of it (a plant that cannot keep up lets its queues grow without bound).
const LONG: usize = 512;

/// One sorted order of a step's batches (ascending, no repeats): a double-ended vector while
/// short, a balanced tree while long.
#[derive(Debug, Clone)]
enum Order {
    Short(VecDeque<Place>),
    Long(BTreeSet<Place>),
}

impl Order {
    fn len(&self) -> usize {
        match self {
            Order::Short(v) => v.len(),
            Order::Long(t) => t.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn front(&self) -> Option<Place> {
        match self {
            Order::Short(v) => v.front().copied(),
            Order::Long(t) => t.first().copied(),
        }
    }

    fn insert(&mut self, p: Place) {
        match self {
            Order::Short(v) if v.len() >= LONG => {
                let mut t: BTreeSet<Place> = v.drain(..).collect();
                t.insert(p);
                *self = Order::Long(t);
            }
            Order::Short(v) => insert_sorted(v, p),
            Order::Long(t) => {
                t.insert(p);
            }
        }
    }

    fn remove(&mut self, p: &Place) {
        match self {
            Order::Short(v) => remove_sorted(v, p),
            Order::Long(t) => {
                t.remove(p);
                if t.len() < LONG / 4 {
                    let v: VecDeque<Place> = std::mem::take(t).into_iter().collect();
                    *self = Order::Short(v);
                }
            }
        }
    }

    /// The first place in the order that `ok` accepts.
    fn find(&self, mut ok: impl FnMut(&Place) -> bool) -> Option<Place> {
        match self {
            Order::Short(v) => v.iter().find(|p| ok(p)).copied(),
            Order::Long(t) => t.iter().find(|p| ok(p)).copied(),
        }
    }

    /// How many places `ok` accepts, counting no further than `cap`.
    fn count(&self, cap: usize, mut ok: impl FnMut(&Place) -> bool) -> usize {
        fn upto<'p>(
            it: impl Iterator<Item = &'p Place>,
            cap: usize,
            ok: &mut impl FnMut(&Place) -> bool,
        ) -> usize {
            let mut n = 0;
            for p in it {
                if n >= cap {
                    break;
                }
                if ok(p) {
                    n += 1;
                }
            }
            n
        }
        match self {
            Order::Short(v) => upto(v.iter(), cap, &mut ok),
            Order::Long(t) => upto(t.iter(), cap, &mut ok),
        }
    }
}

/// Inserts `p` into the sorted `order` (where it is not yet).
fn insert_sorted(order: &mut VecDeque<Place>, p: Place) {
    // Most batches join at the back (under `fifo` the key is the time they became ready).
    if order.back().is_none_or(|last| *last < p) {
        order.push_back(p);
    } else {
        let i = order.partition_point(|q| *q < p);
        order.insert(i, p);
    }
}

/// Takes `p` out of the sorted `order` (no effect if it is not there).
fn remove_sorted(order: &mut VecDeque<Place>, p: &Place) {
    // Most batches leave from the front (they start in the order of the step's rule).
    if order.front() == Some(p) {
        order.pop_front();
    } else if let Ok(i) = order.binary_search(p) {
        order.remove(i);
    }
}

impl StepQueue {
    fn order(&self, rule: usize) -> &Order {
        let i = self.rules.iter().position(|&r| r == rule);
        debug_assert!(
            i.is_some(),
            "rule {rule} is not one of the step's {:?}",
            self.rules
        );
        &self.orders[i.unwrap_or(0)]
    }
}

#[derive(Debug, Clone, Copy)]
struct Member {
    step: usize,
    keys: Keys,
    ready: f64,
}

/// The queues of all steps (flat step index) and where each batch waits.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    steps: Vec<StepQueue>,
    /// Per step: batches waiting (the length of each of its orders, kept apart so that a
    /// look at it does not go through the orders).
    lens: Vec<usize>,
    /// Steps whose queue is not empty, in no particular order.
    busy: Vec<usize>,
    /// For each batch: the step it waits for, its keys and ready time.
    member: Vec<Option<Member>>,
    len: usize,
}

impl Queues {
    /// `rules[s]`: the rule indices of step `s`'s pools, primary first (at least one).
    pub fn new(rules: Vec<Vec<usize>>) -> Self {
        let steps: Vec<StepQueue> = rules
            .into_iter()
            .map(|mut r| {
                if r.is_empty() {
                    r.push(rule_index(Dispatch::Fifo));
                }
                let orders = vec![Order::Short(VecDeque::new()); r.len()];
                StepQueue { rules: r, orders }
            })
            .collect();
        Queues {
            lens: vec![0; steps.len()],
            steps,
            busy: Vec::new(),
            member: Vec::new(),
            len: 0,
        }
    }

    /// Waiting batches in all queues.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Steps with waiting batches, in no particular order.
    pub fn busy(&self) -> &[usize] {
        &self.busy
    }

    /// Batches waiting for `step`.
    #[inline]
    pub fn step_len(&self, step: usize) -> usize {
        self.lens[step]
    }

    /// The primary rule of `step`.
    pub fn primary_rule(&self, step: usize) -> usize {
        self.steps[step].rules[0]
    }

    /// The step the batch waits for and its place in that step's order under `rule`.
    pub fn place(&self, batch: usize, rule: usize) -> Option<(usize, Place)> {
        let m = self.member.get(batch).copied().flatten()?;
        let place = Place {
            key: m.keys[rule],
            ready: m.ready,
            batch,
        };
        Some((m.step, place))
    }

    /// Queues `batch` at `step`; a batch already waiting elsewhere is moved.
    pub fn push(&mut self, step: usize, keys: Keys, ready: f64, batch: usize) {
        self.remove(batch);
        if self.member.len() <= batch {
            self.member.resize(batch + 1, None);
        }
        let q = &mut self.steps[step];
        if q.orders[0].is_empty() {
            self.busy.push(step);
        }
        for (&rule, order) in q.rules.iter().zip(q.orders.iter_mut()) {
            let p = Place {
                key: keys[rule],
                ready,
                batch,
            };
            order.insert(p);
        }
        self.member[batch] = Some(Member { step, keys, ready });
        self.lens[step] += 1;
        self.len += 1;
    }

    /// Takes the batch out of its queue (no effect if it is not waiting).
    pub fn remove(&mut self, batch: usize) {
        let Some(slot) = self.member.get_mut(batch) else {
            return;
        };
        let Some(m) = slot.take() else {
            return;
        };
        let q = &mut self.steps[m.step];
        for (&rule, order) in q.rules.iter().zip(q.orders.iter_mut()) {
            let p = Place {
                key: m.keys[rule],
                ready: m.ready,
                batch,
            };
            order.remove(&p);
        }
        self.len -= 1;
        self.lens[m.step] -= 1;
        if q.orders[0].is_empty()
            && let Some(i) = self.busy.iter().position(|&s| s == m.step)
        {
            self.busy.swap_remove(i);
        }
    }

    /// The first batch of `step` under `rule` (one of the step's rules) that `ok` accepts.
    pub fn first(
        &self,
        step: usize,
        rule: usize,
        mut ok: impl FnMut(usize) -> bool,
    ) -> Option<Place> {
        self.steps[step].order(rule).find(|p| ok(p.batch))
    }

    /// The first batch of `step` under its primary rule.
    #[inline]
    pub fn front(&self, step: usize) -> Option<Place> {
        self.steps[step].orders[0].front()
    }

    /// How many batches of `step` `ok` accepts, counting no further than `cap`.
    pub fn count(&self, step: usize, cap: usize, mut ok: impl FnMut(usize) -> bool) -> usize {
        self.steps[step].orders[0].count(cap, |p| ok(p.batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIFO: usize = 0;
    const EDD: usize = 1;
    const SLACK: usize = 2;

    fn keys(fifo: f64, edd: f64, slack: f64) -> Keys {
        [fifo, edd, slack]
    }

    fn order(q: &Queues, step: usize, rule: usize) -> Vec<usize> {
        let mut out = Vec::new();
        q.steps[step].order(rule).find(|p| {
            out.push(p.batch);
            false
        });
        out
    }

    #[test]
    fn each_order_of_a_step_follows_its_rule_then_ready_time_then_index() {
        let mut q = Queues::new(vec![vec![FIFO, EDD]]);
        q.push(0, keys(3.0, 50.0, 0.0), 3.0, 0);
        q.push(0, keys(1.0, 90.0, 0.0), 1.0, 1);
        q.push(0, keys(2.0, 50.0, 0.0), 2.0, 2);
        q.push(0, keys(2.0, 10.0, 0.0), 2.0, 3);
        assert_eq!(order(&q, 0, FIFO), vec![1, 2, 3, 0]);
        // Due dates 10, 50 (ready 2), 50 (ready 3), 90.
        assert_eq!(order(&q, 0, EDD), vec![3, 2, 0, 1]);
        assert_eq!(q.first(0, EDD, |b| b != 3).map(|p| p.batch), Some(2));
        assert_eq!(q.first(0, FIFO, |_| true).map(|p| p.key), Some(1.0));
        assert_eq!(q.count(0, 10, |b| b % 2 == 0), 2);
        assert_eq!(q.count(0, 1, |_| true), 1);
        assert_eq!(q.primary_rule(0), FIFO);
        assert_eq!(q.front(0).map(|p| p.batch), Some(1));
        assert_eq!(q.place(3, EDD).map(|(s, p)| (s, p.key)), Some((0, 10.0)));
    }

    /// A queue longer than [`LONG`] (a tree) keeps every order, front, count and removal as
    /// the short one (a vector), and becomes short again when it empties.
    #[test]
    fn a_long_queue_keeps_its_orders_as_a_tree_and_back_as_a_vector() {
        let mut q = Queues::new(vec![vec![FIFO, EDD]]);
        let n = 3 * LONG;
        // Due dates in a scrambled order, so that EDD joins in the middle.
        for b in 0..n {
            let due = ((b * 7919) % n) as f64;
            q.push(0, keys(b as f64, due, 0.0), b as f64, b);
        }
        assert!(matches!(q.steps[0].orders[1], Order::Long(_)));
        let fifo = order(&q, 0, FIFO);
        assert_eq!(fifo, (0..n).collect::<Vec<_>>());
        let edd = order(&q, 0, EDD);
        let mut want: Vec<usize> = (0..n).collect();
        want.sort_by_key(|&b| (b * 7919) % n);
        assert_eq!(edd, want);
        assert_eq!(q.count(0, 10, |b| b % 3 == 0), 10);
        for b in (0..n).filter(|b| b % 2 == 1) {
            q.remove(b);
        }
        assert_eq!(q.step_len(0), n / 2);
        assert_eq!(q.front(0).map(|p| p.batch), Some(0));
        assert_eq!(
            q.first(0, EDD, |_| true).map(|p| p.batch),
            want.iter().copied().find(|b| b % 2 == 0)
        );
        for b in 0..n - 5 {
            q.remove(b);
        }
        assert!(matches!(q.steps[0].orders[0], Order::Short(_)));
        assert!(matches!(q.steps[0].orders[1], Order::Short(_)));
        assert_eq!(order(&q, 0, FIFO), vec![n - 4, n - 2]);
        let mut edd_left = order(&q, 0, EDD);
        edd_left.sort_unstable();
        assert_eq!(edd_left, vec![n - 4, n - 2]);
    }

    #[test]
    fn a_step_without_rules_gets_fifo_and_each_rule_is_kept_once_per_step() {
        let q = Queues::new(vec![vec![], vec![SLACK, EDD]]);
        assert_eq!(q.steps[0].rules, vec![FIFO]);
        assert_eq!(q.steps[1].orders.len(), 2);
        assert_eq!(q.primary_rule(1), SLACK);
    }

    #[test]
    fn removing_and_moving_keep_every_order_the_count_and_the_busy_list_right() {
        let mut q = Queues::new(vec![vec![FIFO, EDD], vec![EDD]]);
        q.push(0, keys(1.0, 5.0, 0.0), 1.0, 7);
        q.push(0, keys(2.0, 4.0, 0.0), 2.0, 3);
        q.push(1, keys(3.0, 9.0, 0.0), 3.0, 7); // moves batch 7
        assert_eq!(q.len(), 2);
        assert_eq!(order(&q, 0, FIFO), vec![3]);
        assert_eq!(order(&q, 0, EDD), vec![3]);
        assert_eq!(order(&q, 1, EDD), vec![7]);
        let mut busy = q.busy().to_vec();
        busy.sort_unstable();
        assert_eq!(busy, vec![0, 1]);
        q.remove(3);
        q.remove(3);
        q.remove(99);
        assert_eq!(q.len(), 1);
        assert_eq!(q.busy(), &[1]);
        assert_eq!(q.step_len(0), 0);
        assert!(q.place(3, FIFO).is_none());
        q.remove(7);
        assert_eq!(q.len(), 0);
        assert!(q.busy().is_empty());
        assert!(q.first(1, EDD, |_| true).is_none());
    }
}
