//! A hierarchical timer wheel over slot numbers: the expiry schedule of one map.
//!
//! The design is tokio's (itself Varghese & Lauck's, as Caffeine and moka use):
//! six levels of 64 buckets, level `n` bucket width `64^n` ms, so one wheel spans
//! `64^6` ms (about 2.2 years). Scheduling and cancelling are O(1) (an intrusive
//! doubly linked list per bucket, threaded through `links`); advancing costs the
//! buckets that come due plus the entries that expire or cascade down a level,
//! never the number of entries scheduled. An `occupied` bit mask per level makes
//! "when is the next deadline" a few bit operations, so a tick that expires
//! nothing is O(levels).
//!
//! The random model test lives in `properties.rs`.
//!
//! Times are absolute milliseconds (the map's clock). Slots are the map's entry
//! numbers; the wheel never sees keys or values.

const LEVEL_BITS: u32 = 6;
const BUCKETS: usize = 1 << LEVEL_BITS;
const LEVELS: usize = 6;
/// The largest distance from "now" the wheel can represent; later deadlines are
/// parked in the top level and re-checked (cascaded) when their bucket comes up.
const MAX_SPAN: u64 = (1 << (LEVEL_BITS as u64 * LEVELS as u64)) - 1;
/// Deadlines are at most this far ahead (24.8 days, as `setTimeout`): they are
/// stored as 32-bit offsets from the wheel's own time.
pub const MAX_DELAY_MS: u64 = (1 << 31) - 1;
const NIL: u32 = u32::MAX;
/// A link's `next` carries the level in its top 3 bits (slots fit in 29); the
/// bucket within the level follows from the deadline. 12 bytes per slot.
const SLOT_BITS: u32 = 29;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const NIL_NEXT: u32 = SLOT_MASK;
const UNSCHEDULED_LEVEL: u32 = 7;

#[derive(Clone, Copy)]
struct Link {
    /// The deadline's low 32 bits (see `Wheel::absolute`).
    when: u32,
    prev: u32,
    next_and_level: u32,
}

const FREE_LINK: Link = Link {
    when: 0,
    prev: NIL,
    next_and_level: UNSCHEDULED_LEVEL << SLOT_BITS | NIL_NEXT,
};

impl Link {
    fn level(&self) -> u32 {
        self.next_and_level >> SLOT_BITS
    }
    fn is_scheduled(&self) -> bool {
        self.level() != UNSCHEDULED_LEVEL
    }
    fn next(&self) -> u32 {
        match self.next_and_level & SLOT_MASK {
            NIL_NEXT => NIL,
            slot => slot,
        }
    }
    fn set_next(&mut self, next: u32) {
        let next = if next == NIL { NIL_NEXT } else { next };
        self.next_and_level = (self.next_and_level & !SLOT_MASK) | next;
    }
}

pub struct Wheel {
    /// Everything up to and including `elapsed` has been processed.
    elapsed: u64,
    links: Vec<Link>,
    heads: [[u32; BUCKETS]; LEVELS],
    occupied: [u64; LEVELS],
    len: usize,
}

fn level_for(elapsed: u64, when: u64) -> usize {
    // The highest bit in which the deadline differs from now picks the level:
    // a deadline in the current 64 ms lands on level 0, and so on.
    let mut masked = (elapsed ^ when) | (BUCKETS as u64 - 1);
    if masked >= MAX_SPAN {
        masked = MAX_SPAN - 1;
    }
    let significant = 63 - masked.leading_zeros() as usize;
    significant / LEVEL_BITS as usize
}

fn bucket_width(level: usize) -> u64 {
    1 << (LEVEL_BITS as usize * level)
}

fn bucket_for(when: u64, level: usize) -> usize {
    ((when >> (LEVEL_BITS as usize * level)) as usize) & (BUCKETS - 1)
}

impl Wheel {
    pub fn new(now: u64) -> Self {
        Wheel {
            elapsed: now,
            links: Vec::new(),
            heads: [[NIL; BUCKETS]; LEVELS],
            occupied: [0; LEVELS],
            len: 0,
        }
    }

    /// The time the wheel has advanced to.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of scheduled slots.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The deadline of `slot`, if it is scheduled.
    pub fn deadline(&self, slot: u32) -> Option<u64> {
        let link = self.links.get(slot as usize)?;
        link.is_scheduled().then(|| self.absolute(link.when))
    }

    /// Every scheduled deadline lies in (elapsed - 1, elapsed + 2^32): its low
    /// 32 bits give it back whole.
    fn absolute(&self, when: u32) -> u64 {
        self.elapsed
            .saturating_add(u64::from(when.wrapping_sub(self.elapsed as u32)))
    }

    /// Schedules `slot` to expire at `when`, replacing any earlier schedule.
    /// A deadline already in the past comes due at the next `advance`.
    pub fn schedule(&mut self, slot: u32, when: u64) {
        self.cancel(slot);
        let index = slot as usize;
        if index >= self.links.len() {
            self.links.resize(index + 1, FREE_LINK);
        }
        let earliest = self.elapsed.saturating_add(1);
        let when = when.clamp(earliest, earliest.saturating_add(MAX_DELAY_MS - 1));
        self.push(slot, when);
        self.len += 1;
    }

    /// Removes `slot` from the schedule; a no-op when it is not scheduled.
    pub fn cancel(&mut self, slot: u32) {
        let Some(link) = self.links.get(slot as usize).copied() else {
            return;
        };
        if !link.is_scheduled() {
            return;
        }
        self.unlink(link);
        self.links[slot as usize] = FREE_LINK;
        self.len -= 1;
    }

    /// Drops every schedule (the map was cleared).
    pub fn clear(&mut self) {
        self.links.clear();
        self.heads = [[NIL; BUCKETS]; LEVELS];
        self.occupied = [0; LEVELS];
        self.len = 0;
    }

    /// Moves time forward to `now` and appends every slot whose deadline is
    /// `<= now` to `expired`, each exactly once. Time never moves backwards.
    pub fn advance(&mut self, now: u64, expired: &mut Vec<u32>) {
        while let Some((level, bucket, start)) = self.next_due_bucket() {
            if start > now {
                break;
            }
            self.elapsed = start;
            // Buckets are pushed at the head: walk them oldest first, so
            // entries sharing a deadline expire in the order they were scheduled.
            let mut bucket_slots = Vec::new();
            let mut slot = self.take_bucket(level, bucket);
            while slot != NIL {
                bucket_slots.push(slot);
                slot = self.links[slot as usize].next();
            }
            for &slot in bucket_slots.iter().rev() {
                let link = self.links[slot as usize];
                let when = self.absolute(link.when);
                if when <= now {
                    self.links[slot as usize] = FREE_LINK;
                    self.len -= 1;
                    expired.push(slot);
                } else {
                    // Not due yet: cascade it to a finer level.
                    self.push(slot, when);
                }
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// The earliest deadline scheduled, as a bucket start time (a lower bound).
    pub fn next_deadline(&self) -> Option<u64> {
        self.next_due_bucket().map(|(_, _, start)| start)
    }

    fn push(&mut self, slot: u32, when: u64) {
        let level = level_for(self.elapsed, when);
        let bucket = bucket_for(when, level);
        let head = self.heads[level][bucket];
        let mut link = Link {
            when: when as u32,
            prev: NIL,
            next_and_level: (level as u32) << SLOT_BITS,
        };
        link.set_next(head);
        self.links[slot as usize] = link;
        if head != NIL {
            self.links[head as usize].prev = slot;
        }
        self.heads[level][bucket] = slot;
        self.occupied[level] |= 1 << bucket;
    }

    fn unlink(&mut self, link: Link) {
        let level = link.level() as usize;
        let bucket = bucket_for(self.absolute(link.when), level);
        let next = link.next();
        if link.prev == NIL {
            self.heads[level][bucket] = next;
        } else {
            self.links[link.prev as usize].set_next(next);
        }
        if next != NIL {
            self.links[next as usize].prev = link.prev;
        }
        if self.heads[level][bucket] == NIL {
            self.occupied[level] &= !(1 << bucket);
        }
    }

    fn take_bucket(&mut self, level: usize, bucket: usize) -> u32 {
        let head = self.heads[level][bucket];
        self.heads[level][bucket] = NIL;
        self.occupied[level] &= !(1 << bucket);
        head
    }

    /// The first occupied bucket at or after `elapsed`: (level, bucket, start ms).
    /// Lower levels always come due before higher ones, so the first level with
    /// anything in it holds the next deadline.
    fn next_due_bucket(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| self.next_bucket_in(level))
    }

    fn next_bucket_in(&self, level: usize) -> Option<(usize, usize, u64)> {
        let occupied = self.occupied[level];
        if occupied == 0 {
            return None;
        }
        let width = bucket_width(level);
        let span = width * BUCKETS as u64;
        let current = ((self.elapsed / width) as usize) % BUCKETS;
        let rotated = occupied.rotate_right(current as u32);
        let bucket = (rotated.trailing_zeros() as usize + current) % BUCKETS;
        let level_start = self.elapsed & !(span - 1);
        let mut start = level_start + bucket as u64 * width;
        if start <= self.elapsed {
            // Behind us: the bucket's next turn comes one rotation later (only
            // the top level can hold such entries, parked beyond the span).
            start = start.saturating_add(span);
        }
        Some((level, bucket, start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_at_deadline_not_before() {
        let mut wheel = Wheel::new(1_000);
        wheel.schedule(7, 1_100);
        let mut out = Vec::new();
        wheel.advance(1_099, &mut out);
        assert!(out.is_empty());
        wheel.advance(1_100, &mut out);
        assert_eq!(out, vec![7]);
        assert!(wheel.is_empty());
    }

    #[test]
    fn same_deadline_expires_in_schedule_order() {
        let mut wheel = Wheel::new(0);
        for slot in [5, 3, 9, 1] {
            wheel.schedule(slot, 5_000);
        }
        let mut out = Vec::new();
        wheel.advance(6_000, &mut out);
        assert_eq!(out, vec![5, 3, 9, 1]);
    }

    #[test]
    fn cancel_and_reschedule() {
        let mut wheel = Wheel::new(0);
        wheel.schedule(1, 10);
        wheel.schedule(2, 5_000);
        wheel.cancel(1);
        wheel.schedule(2, 20);
        let mut out = Vec::new();
        wheel.advance(100, &mut out);
        assert_eq!(out, vec![2]);
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn past_deadline_comes_due_on_next_advance() {
        let mut wheel = Wheel::new(500);
        wheel.schedule(3, 10);
        let mut out = Vec::new();
        wheel.advance(501, &mut out);
        assert_eq!(out, vec![3]);
    }

    #[test]
    fn far_deadlines_cascade_correctly() {
        let mut wheel = Wheel::new(0);
        let far = 3 * 24 * 3600 * 1000; // three days
        wheel.schedule(0, far);
        wheel.schedule(1, MAX_DELAY_MS);
        wheel.schedule(2, MAX_DELAY_MS * 5); // clamped to the longest delay
        let mut out = Vec::new();
        wheel.advance(far - 1, &mut out);
        assert!(out.is_empty());
        wheel.advance(far, &mut out);
        assert_eq!(out, vec![0]);
        wheel.advance(MAX_DELAY_MS - 1, &mut out);
        assert_eq!(out, vec![0]);
        wheel.advance(MAX_DELAY_MS, &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![0, 1, 2]);
    }

    #[test]
    fn idle_tick_touches_no_entries() {
        let mut wheel = Wheel::new(0);
        for slot in 0..10_000 {
            wheel.schedule(slot, 60_000 + slot as u64);
        }
        let mut out = Vec::new();
        wheel.advance(10, &mut out);
        assert!(out.is_empty());
        assert_eq!(wheel.next_deadline().map(|d| d <= 60_000), Some(true));
    }
}
