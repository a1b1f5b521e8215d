//! Waiting batches, one ordered queue per step.
//!
//! Batches waiting for the same step need the same resources, so within one dispatch pass a
//! batch that cannot seize its resources means that no later batch of the same step can:
//! units only get scarcer while a pass starts steps. Keeping one queue per step, ordered by
//! the dispatching key, lets a pass look at the head of each queue instead of sorting and
//! trying every waiting batch; the order in which batches are tried is the same as sorting the
//! whole waiting list by (key, ready time, batch).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

/// A batch's place in its queue: dispatching key, then the time it became ready, then its
/// index (the order of creation), so that ties are broken the same way on every run.
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

/// One queue per step (flat step index) and where each batch waits.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    steps: Vec<BTreeSet<Place>>,
    /// Steps whose queue is not empty, in no particular order.
    busy: Vec<usize>,
    /// For each batch: the step queue it waits in and its place there.
    member: Vec<Option<(usize, Place)>>,
    len: usize,
}

impl Queues {
    pub fn new(steps: usize) -> Self {
        Queues {
            steps: vec![BTreeSet::new(); steps],
            busy: Vec::new(),
            member: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Queues `place.batch` at `step`; a batch already waiting elsewhere is moved.
    pub fn push(&mut self, step: usize, place: Place) {
        self.remove(place.batch);
        if self.member.len() <= place.batch {
            self.member.resize(place.batch + 1, None);
        }
        let q = &mut self.steps[step];
        if q.is_empty() {
            self.busy.push(step);
        }
        q.insert(place);
        self.member[place.batch] = Some((step, place));
        self.len += 1;
    }

    /// Takes the batch out of its queue (no effect if it is not waiting).
    pub fn remove(&mut self, batch: usize) {
        let Some(slot) = self.member.get_mut(batch) else {
            return;
        };
        let Some((step, place)) = slot.take() else {
            return;
        };
        let q = &mut self.steps[step];
        q.remove(&place);
        self.len -= 1;
        if q.is_empty()
            && let Some(i) = self.busy.iter().position(|&s| s == step)
        {
            self.busy.swap_remove(i);
        }
    }

    /// Starts a dispatch pass over the queues.
    #[cfg(test)]
    pub fn pass(&self) -> Pass {
        let mut pass = Pass::default();
        self.begin(&mut pass);
        pass
    }

    /// Starts a dispatch pass over the queues, reusing `pass`'s memory.
    pub fn begin(&self, pass: &mut Pass) {
        pass.open.clear();
        pass.open.extend(self.busy.iter().map(|&s| (s, None)));
    }

    /// The next batch of the pass: the smallest place among the open queues, after the last
    /// one looked at in each. Returns its step queue with it.
    pub fn next(&self, pass: &mut Pass) -> Option<(usize, Place)> {
        let mut best: Option<(usize, Place)> = None;
        let mut i = 0;
        while i < pass.open.len() {
            let (step, after) = pass.open[i];
            let q = &self.steps[step];
            let head = match after {
                None => q.first(),
                Some(p) => q.range((Bound::Excluded(p), Bound::Unbounded)).next(),
            };
            match head {
                Some(&p) => {
                    if best.is_none_or(|(_, b)| p < b) {
                        best = Some((step, p));
                    }
                    i += 1;
                }
                // Nothing left to look at in this queue during this pass.
                None => {
                    pass.open.swap_remove(i);
                }
            }
        }
        best
    }
}

/// The state of one dispatch pass: the queues still open and the last place looked at in each.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    open: Vec<(usize, Option<Place>)>,
}

impl Pass {
    /// The batch at `place` stays in its queue; go on after it.
    pub fn skip(&mut self, step: usize, place: Place) {
        if let Some(e) = self.open.iter_mut().find(|e| e.0 == step) {
            e.1 = Some(place);
        }
    }

    /// No later batch of this step can start in this pass.
    pub fn close(&mut self, step: usize) {
        self.open.retain(|e| e.0 != step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(key: f64, ready: f64, batch: usize) -> Place {
        Place { key, ready, batch }
    }

    #[test]
    fn pass_visits_all_waiting_batches_in_key_order_across_steps() {
        let mut q = Queues::new(3);
        q.push(0, place(5.0, 1.0, 0));
        q.push(1, place(2.0, 1.0, 1));
        q.push(0, place(2.0, 0.5, 2));
        q.push(2, place(2.0, 0.5, 3));
        q.push(1, place(9.0, 0.0, 4));
        assert_eq!(q.len(), 5);
        let mut pass = q.pass();
        let mut seen = Vec::new();
        while let Some((s, p)) = q.next(&mut pass) {
            seen.push(p.batch);
            pass.skip(s, p);
        }
        // key 2.0: ready 0.5 (batches 2 and 3, by index), then ready 1.0; then 5.0, 9.0.
        assert_eq!(seen, vec![2, 3, 1, 0, 4]);
    }

    #[test]
    fn closing_a_step_skips_its_later_batches_only() {
        let mut q = Queues::new(2);
        for b in 0..4 {
            q.push(b % 2, place(b as f64, 0.0, b));
        }
        let mut pass = q.pass();
        let mut seen = Vec::new();
        while let Some((s, p)) = q.next(&mut pass) {
            seen.push(p.batch);
            if s == 0 {
                pass.close(0);
            } else {
                pass.skip(s, p);
            }
        }
        assert_eq!(seen, vec![0, 1, 3]);
    }

    #[test]
    fn removing_and_moving_keep_the_count_and_the_busy_list_right() {
        let mut q = Queues::new(2);
        q.push(0, place(1.0, 0.0, 7));
        q.push(0, place(2.0, 0.0, 3));
        q.push(1, place(1.0, 0.0, 7)); // moves batch 7
        assert_eq!(q.len(), 2);
        q.remove(3);
        q.remove(3);
        q.remove(99);
        assert_eq!(q.len(), 1);
        let mut pass = q.pass();
        assert_eq!(q.next(&mut pass).map(|(s, p)| (s, p.batch)), Some((1, 7)));
        q.remove(7);
        assert_eq!(q.len(), 0);
        assert!(q.next(&mut q.pass()).is_none());
    }

    #[test]
    fn a_started_batch_leaves_the_pass() {
        let mut q = Queues::new(1);
        for b in 0..3 {
            q.push(0, place(b as f64, 0.0, b));
        }
        let mut pass = q.pass();
        let mut seen = Vec::new();
        while let Some((_, p)) = q.next(&mut pass) {
            seen.push(p.batch);
            q.remove(p.batch); // started
        }
        assert_eq!(seen, vec![0, 1, 2]);
        assert_eq!(q.len(), 0);
    }
}
