//! The future-event list: a binary min-heap ordered by (time, scheduling sequence).
//!
//! Every event gets the next sequence number when it is scheduled, so no two events have the
//! same place in the order and any correct priority queue pops them in the same order: events
//! at the same instant come out in the order they were scheduled. The heap compares one
//! 128-bit integer per event — the time mapped to an unsigned integer with the order of
//! [`f64::total_cmp`] in the high half, the sequence in the low half — instead of a float
//! comparison followed by a second comparison, and moves the event being sifted through a
//! hole (one copy per level, no swaps); a pop moves the hole to the bottom along the smaller
//! children and sifts the last event up from there.

/// A key with the order of `(t, seq)` under [`f64::total_cmp`] and then `seq`.
#[inline]
fn key(t: f64, seq: u64) -> u128 {
    let bits = t.to_bits() as i64;
    // As `total_cmp`: negative numbers have their magnitude bits flipped, so that the signed
    // integers are ordered as the floats; flipping the sign bit then orders them unsigned.
    let ordered = (bits ^ ((((bits >> 63) as u64) >> 1) as i64)) as u64 ^ (1 << 63);
    (u128::from(ordered) << 64) | u128::from(seq)
}

/// The time a key was made from (exactly: the mapping is one to one).
#[inline]
fn time_of(key: u128) -> f64 {
    let ordered = ((key >> 64) as u64 ^ (1 << 63)) as i64;
    let bits = ordered ^ ((((ordered >> 63) as u64) >> 1) as i64);
    f64::from_bits(bits as u64)
}

#[derive(Debug, Clone, Copy)]
struct Entry<K> {
    key: u128,
    kind: K,
}

/// Puts `e` into the heap `h` at the hole `pos` and moves it up (one copy per level) past
/// every parent with a later key.
#[inline(always)]
fn sift_up<K: Copy>(h: &mut [Entry<K>], mut pos: usize, e: Entry<K>) {
    while pos > 0 {
        let parent = (pos - 1) / 2;
        if h[parent].key <= e.key {
            break;
        }
        h[pos] = h[parent];
        pos = parent;
    }
    h[pos] = e;
}

/// Events of payload `K`, popped earliest time first, then earliest scheduled first.
#[derive(Debug, Clone)]
pub(crate) struct EventQueue<K> {
    heap: Vec<Entry<K>>,
    seq: u64,
}

impl<K: Copy> EventQueue<K> {
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: Vec::with_capacity(n),
            seq: 0,
        }
    }

    /// Schedules `kind` at time `t`, after every event already scheduled at `t`.
    #[inline(always)]
    pub fn push(&mut self, t: f64, kind: K) {
        self.seq += 1;
        let e = Entry {
            key: key(t, self.seq),
            kind,
        };
        self.heap.push(e);
        let h = self.heap.as_mut_slice();
        sift_up(h, h.len() - 1, e);
    }

    /// The earliest event, with its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(f64, K)> {
        let last = self.heap.pop()?;
        let h = self.heap.as_mut_slice();
        let n = h.len();
        if n == 0 {
            return Some((time_of(last.key), last.kind));
        }
        let top = h[0];
        // Move the hole from the root down to a leaf along the smaller children (one
        // comparison per level), then sift the last entry up from there: it came from the
        // bottom, so it seldom rises far.
        let mut pos = 0;
        let mut child = 1;
        while child + 1 < n {
            child += usize::from(h[child + 1].key < h[child].key);
            h[pos] = h[child];
            pos = child;
            child = 2 * pos + 1;
        }
        if child + 1 == n {
            h[pos] = h[child];
            pos = child;
        }
        sift_up(h, pos, last);
        Some((time_of(top.key), top.kind))
    }

    /// The time of the earliest event.
    #[inline]
    pub fn peek_time(&self) -> Option<f64> {
        self.heap.first().map(|e| time_of(e.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn keys_order_times_as_total_cmp_and_give_the_time_back() {
        let times = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1e-9,
            1.0,
            1.0 + f64::EPSILON,
            8760.0,
            1e300,
            f64::INFINITY,
        ];
        for w in times.windows(2) {
            assert!(key(w[0], 9) < key(w[1], 0), "{} < {}", w[0], w[1]);
        }
        for &t in &times {
            assert_eq!(time_of(key(t, 5)).to_bits(), t.to_bits());
            assert!(key(t, 1) < key(t, 2));
        }
        assert_eq!(time_of(key(f64::NAN, 3)).to_bits(), f64::NAN.to_bits());
    }

    /// Random pushes and pops against a sorted list of (time, sequence): the same events come
    /// out in the same order, ties at one time in the order they were scheduled.
    #[test]
    fn pops_in_time_then_scheduling_order_as_a_sorted_list() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut q = EventQueue::with_capacity(4);
        let mut reference: Vec<(f64, u64, u32)> = Vec::new();
        let mut seq = 0u64;
        let mut now = 0.0;
        for id in 0..20_000u32 {
            if rng.random::<f64>() < 0.55 {
                // Many ties: times on a coarse grid.
                let t = now + f64::from(rng.random_range(0..6u32)) * 0.5;
                seq += 1;
                q.push(t, id);
                reference.push((t, seq, id));
            } else {
                reference.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
                let want = reference.pop();
                assert_eq!(q.peek_time(), want.map(|w| w.0));
                let got = q.pop();
                assert_eq!(got, want.map(|w| (w.0, w.2)));
                if let Some((t, _)) = got {
                    now = t;
                }
            }
        }
        reference.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        while let Some(w) = reference.pop() {
            assert_eq!(q.pop(), Some((w.0, w.2)));
        }
        assert_eq!(q.pop(), None);
        assert_eq!(q.peek_time(), None);
    }
}
