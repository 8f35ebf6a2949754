//! The expiry schedule of one map: entries grouped into *generations* (all
//! entries stamped at one moment share one deadline, as every map has one
//! TTL), and the generations kept in a queue, oldest first.
//!
//! Why not each entry on a timer: measured in Rust alone, a timer wheel's
//! schedule and cancel were half the ledger's cost per insert+remove (23 of
//! 45 ns). Here an insert is a push onto the newest generation and a remove
//! is a counter decrement. This is what Caffeine does for a fixed
//! expire-after-write: a write-order queue.
//!
//! Why a queue is enough: one TTL per map, and a stamp older than the newest
//! generation's joins that generation (the entry then expires a little late,
//! never early; a custom clock may go backwards). So a new generation's
//! deadline is never earlier than any before it, and the due generations are
//! always at the front: advancing pops them, and a tick that expires nothing
//! looks at one deadline.
//!
//! Measured against the hierarchical wheel it replaced (instructions in
//! `NativeLedger::drain`, callgrind, `bench/drain.js`): the same for an
//! insert+remove pair, a touch, and an expired entry; 17% fewer with a TIME
//! word per insert (one generation each); fewer per idle tick.
//!
//! A generation's list may hold stale members (removed, or refreshed into a
//! newer generation): a slot is a member only while `slot_generation` names
//! that generation. Lists are compacted when most members are stale, so
//! memory stays within a small factor of the live entries. A generation left
//! empty frees its list at once and leaves the queue when it reaches the
//! front.

use std::collections::TryReserveError;

/// The longest TTL, in ms (24.8 days, as `setTimeout`'s longest delay).
pub(crate) const MAX_DELAY_MS: u64 = (1 << 31) - 1;
const NONE: u32 = u32::MAX;
const MARK: u32 = u32::MAX - 1;
/// A list shorter than this is never compacted (not worth it).
const COMPACT_MIN: usize = 64;

struct Generation {
    stamp: u64,
    deadline: u64,
    slots: Vec<u32>,
    live: u32,
}

pub(crate) struct Expiry {
    ttl_ms: u64,
    /// The queue is `generations[head..]`: oldest first, deadlines never
    /// decrease, and the front one has members. `generations[..head]` are
    /// gone (expired or emptied) and dropped in bulk, so that a generation's
    /// id indexes this Vec directly (no ring arithmetic on the hot path).
    generations: Vec<Generation>,
    head: usize,
    /// The id of `generations[0]`: ids count up, one per generation.
    first_id: u32,
    /// Each slot's generation id, or `NONE` when it is not scheduled.
    slot_generation: Vec<u32>,
}

impl Expiry {
    pub(crate) fn new(ttl_ms: u64) -> Self {
        Expiry {
            ttl_ms,
            generations: Vec::new(),
            head: 0,
            first_id: 0,
            slot_generation: Vec::new(),
        }
    }

    #[cfg(test)]
    /// Scheduled entries: the members of every generation. Counted when
    /// asked, O(generations), so that scheduling and cancelling keep one
    /// counter fewer up to date.
    pub(crate) fn len(&self) -> usize {
        self.generations[self.head..]
            .iter()
            .map(|g| g.live as usize)
            .sum()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == self.generations.len()
    }

    /// Makes `slot` an index of the schedule (unscheduled). Running out of
    /// memory is an error, not an abort, and then nothing has changed.
    pub(crate) fn grow_to_hold(&mut self, slot: u32) -> Result<(), TryReserveError> {
        let len = self.slot_generation.len().max(slot as usize + 1);
        self.slot_generation
            .try_reserve(len - self.slot_generation.len())?;
        self.slot_generation.resize(len, NONE);
        Ok(())
    }

    /// Schedules `slot` to expire `ttl` after `stamp`, replacing any earlier
    /// schedule. A stamp older than the newest generation's joins it: the
    /// entry then expires a little late, never early.
    pub(crate) fn schedule(&mut self, slot: u32, stamp: u64) {
        self.cancel(slot);
        self.schedule_unscheduled(slot, stamp);
    }

    /// [`Expiry::schedule`] for a slot known not to be scheduled (a fresh
    /// insert): the ledger's hot path, with no cancel to try.
    #[inline(always)]
    pub(crate) fn schedule_unscheduled(&mut self, slot: u32, stamp: u64) {
        let index = slot as usize;
        if index >= self.slot_generation.len() {
            self.slot_generation.resize(index + 1, NONE);
        }
        debug_assert_eq!(
            self.slot_generation[index], NONE,
            "slot {slot} is scheduled"
        );
        let id = self.generation_for(stamp);
        let generation = self.generation_mut(id);
        generation.slots.push(slot);
        generation.live += 1;
        self.slot_generation[index] = id;
    }

    /// Takes `slot` off the schedule; a no-op when it is not scheduled.
    #[inline]
    pub(crate) fn cancel(&mut self, slot: u32) {
        let Some(&id) = self.slot_generation.get(slot as usize) else {
            return;
        };
        if id == NONE {
            return;
        }
        self.slot_generation[slot as usize] = NONE;
        let generation = self.generation_mut(id);
        generation.live -= 1;
        let mostly_stale = generation.slots.len() >= COMPACT_MIN
            && (generation.live as usize) * 4 < generation.slots.len();
        if generation.live == 0 || mostly_stale {
            self.tidy(id);
        }
    }

    /// After a cancel: an empty generation frees its list (and leaves the
    /// queue if it is at the front), a mostly stale one is compacted. Out of
    /// line: it is rare, and the cancel is hot.
    #[cold]
    #[inline(never)]
    fn tidy(&mut self, id: u32) {
        if self.generation_mut(id).live == 0 {
            self.generation_mut(id).slots = Vec::new();
            self.drop_empty_front();
        } else {
            self.compact(id);
        }
    }

    /// The deadline of a scheduled slot.
    pub(crate) fn deadline(&self, slot: u32) -> Option<u64> {
        let id = *self.slot_generation.get(slot as usize)?;
        (id != NONE).then(|| self.generations[self.index_of(id)].deadline)
    }

    #[cfg(test)]
    /// The earliest deadline scheduled.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.front().map(|g| g.deadline)
    }

    /// Appends every slot due at `now` to `expired`, oldest generation first
    /// and in scheduling order within one, each exactly once.
    pub(crate) fn advance(&mut self, now: u64, expired: &mut Vec<u32>) {
        while self.front().is_some_and(|g| g.deadline <= now) {
            let id = self.first_id + self.head as u32;
            let slots = std::mem::take(&mut self.generations[self.head].slots);
            self.pop_front();
            for slot in slots {
                if self.slot_generation[slot as usize] == id {
                    self.slot_generation[slot as usize] = NONE;
                    expired.push(slot);
                }
            }
            self.drop_empty_front();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.generations.clear();
        self.slot_generation.clear();
        self.head = 0;
        self.first_id = 0;
    }

    #[inline]
    fn generation_for(&mut self, stamp: u64) -> u32 {
        // The last generation is queued (an empty queue is an empty Vec).
        match self.generations.last() {
            Some(newest) if stamp <= newest.stamp => {
                self.first_id + self.generations.len() as u32 - 1
            }
            _ => self.start_generation(stamp),
        }
    }

    #[cold]
    #[inline(never)]
    fn start_generation(&mut self, stamp: u64) -> u32 {
        if self.first_id as usize + self.generations.len() >= MARK as usize {
            self.renumber();
        }
        self.generations.push(Generation {
            stamp,
            deadline: stamp.saturating_add(self.ttl_ms),
            slots: Vec::new(),
            live: 0,
        });
        self.first_id + self.generations.len() as u32 - 1
    }

    /// Ids would reach the sentinels (after 2^32 generations): count them
    /// from 0 again. O(slots), once in billions of generations.
    #[cold]
    fn renumber(&mut self) {
        for id in &mut self.slot_generation {
            if *id != NONE {
                *id -= self.first_id;
            }
        }
        self.first_id = 0;
    }

    #[inline(always)]
    fn index_of(&self, id: u32) -> usize {
        (id - self.first_id) as usize
    }

    #[inline(always)]
    fn generation_mut(&mut self, id: u32) -> &mut Generation {
        let index = self.index_of(id);
        &mut self.generations[index]
    }

    fn front(&self) -> Option<&Generation> {
        self.generations.get(self.head)
    }

    /// Takes the front generation (its list already taken or freed) off the
    /// queue. Gone ones are dropped when they are half the Vec, or all of it:
    /// O(1) amortised, and the Vec stays within twice the queue.
    fn pop_front(&mut self) {
        self.head += 1;
        if self.head * 2 >= self.generations.len() {
            self.generations.drain(..self.head);
            self.first_id += self.head as u32;
            self.head = 0;
        }
    }

    /// Keeps the front generation one with members (so the next deadline is
    /// the front's).
    fn drop_empty_front(&mut self) {
        while self.front().is_some_and(|g| g.live == 0) {
            self.pop_front();
        }
    }

    /// Drops stale members (and duplicates: a slot removed and re-added
    /// within one generation is listed twice), keeping the order.
    fn compact(&mut self, id: u32) {
        let index = self.index_of(id);
        let slots = std::mem::take(&mut self.generations[index].slots);
        let mut kept = Vec::with_capacity(self.generations[index].live as usize);
        for slot in slots {
            if self.slot_generation[slot as usize] == id {
                self.slot_generation[slot as usize] = MARK;
                kept.push(slot);
            }
        }
        for &slot in &kept {
            self.slot_generation[slot as usize] = id;
        }
        self.generations[index].slots = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_their_generation_in_order() {
        let mut expiry = Expiry::new(100);
        for slot in [4, 2, 9] {
            expiry.schedule(slot, 10);
        }
        expiry.schedule(7, 20);
        let mut out = Vec::new();
        expiry.advance(109, &mut out);
        assert!(out.is_empty());
        expiry.advance(110, &mut out);
        assert_eq!(out, vec![4, 2, 9]);
        expiry.advance(200, &mut out);
        assert_eq!(out, vec![4, 2, 9, 7]);
        assert!(expiry.is_empty());
    }

    #[test]
    fn cancel_and_refresh_leave_no_stale_expiry() {
        let mut expiry = Expiry::new(100);
        expiry.schedule(1, 0);
        expiry.schedule(2, 0);
        expiry.cancel(1);
        expiry.schedule(2, 50); // refreshed: the first generation is now empty and gone
        expiry.schedule(1, 0); // an older stamp joins the newest generation
        assert_eq!(expiry.deadline(2), Some(150));
        assert_eq!(expiry.deadline(1), Some(150));
        let mut out = Vec::new();
        expiry.advance(149, &mut out);
        assert!(out.is_empty());
        expiry.advance(150, &mut out);
        assert_eq!(out, vec![2, 1]);
        assert_eq!(expiry.len(), 0);
    }

    #[test]
    fn an_older_stamp_joins_the_newest_generation_and_is_late_not_early() {
        let mut expiry = Expiry::new(100);
        expiry.schedule(1, 50);
        expiry.schedule(2, 10);
        assert_eq!(expiry.deadline(2), Some(150));
        let mut out = Vec::new();
        expiry.advance(149, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn compaction_keeps_members_once_and_in_order() {
        let mut expiry = Expiry::new(1_000);
        for slot in 0..200 {
            expiry.schedule(slot, 5);
        }
        for slot in 0..190 {
            expiry.cancel(slot);
        }
        expiry.schedule(195, 5); // a duplicate in the same generation
        assert!(expiry.generations[0].slots.len() < 200, "compacted");
        let mut out = Vec::new();
        expiry.advance(1_005, &mut out);
        assert_eq!(out, (190..200).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_generation_leaves_the_queue() {
        let mut expiry = Expiry::new(100);
        expiry.schedule(1, 0);
        expiry.cancel(1);
        assert!(expiry.is_empty());
        expiry.schedule(2, 1);
        assert_eq!(expiry.generations.len(), 1);
        let mut out = Vec::new();
        expiry.advance(101, &mut out);
        assert_eq!(out, vec![2]);
    }

    #[test]
    fn an_empty_generation_behind_the_front_neither_blocks_nor_expires_anything() {
        let mut expiry = Expiry::new(100);
        expiry.schedule(1, 0);
        expiry.schedule(2, 10);
        expiry.schedule(3, 20);
        expiry.cancel(2); // the middle generation is empty, still queued
        assert_eq!(expiry.next_deadline(), Some(100));
        let mut out = Vec::new();
        expiry.advance(100, &mut out);
        assert_eq!(out, vec![1]);
        assert_eq!(
            expiry.next_deadline(),
            Some(120),
            "the empty one left with it"
        );
        expiry.advance(120, &mut out);
        assert_eq!(out, vec![1, 3]);
        assert!(expiry.is_empty());
    }

    #[test]
    fn a_clock_that_goes_back_never_makes_deadlines_decrease() {
        let mut expiry = Expiry::new(100);
        expiry.schedule(1, 50);
        expiry.schedule(2, 60);
        expiry.cancel(2); // the newest generation is empty but stays queued
        expiry.schedule(3, 55); // older than the newest stamp: joins it
        expiry.schedule(4, 10);
        assert_eq!(expiry.deadline(3), Some(160));
        assert_eq!(expiry.deadline(4), Some(160));
        let mut out = Vec::new();
        expiry.advance(159, &mut out);
        assert_eq!(out, vec![1]);
        expiry.advance(160, &mut out);
        assert_eq!(out, vec![1, 3, 4]);
        // With nothing queued, a stamp from the past starts afresh: it has
        // no newer generation to be ordered behind.
        expiry.schedule(5, 0);
        assert_eq!(expiry.deadline(5), Some(100));
        expiry.advance(100, &mut out);
        assert_eq!(out, vec![1, 3, 4, 5]);
    }

    #[test]
    fn a_deadline_far_past_the_last_advance_is_never_early() {
        // A custom clock's jump, or a long gap between ticks: a queue has no
        // reach (a timer wheel kept 32-bit offsets and had to park these).
        let mut expiry = Expiry::new(5);
        let stamp = 1_000 + (1 << 32);
        expiry.schedule(1, stamp);
        expiry.schedule(2, stamp + 1);
        assert_eq!(expiry.deadline(1), Some(stamp + 5));
        assert_eq!(expiry.next_deadline(), Some(stamp + 5));
        let mut out = Vec::new();
        for now in [1_000 + (1 << 31), stamp, stamp + 4] {
            expiry.advance(now, &mut out);
            assert!(out.is_empty(), "expired early at {now}");
        }
        expiry.advance(stamp + 5, &mut out);
        assert_eq!(out, vec![1]);
        expiry.advance(stamp + 6, &mut out);
        assert_eq!(out, vec![1, 2]);
        // A generation emptied by cancels is forgotten.
        expiry.schedule(3, stamp + (1 << 33));
        expiry.cancel(3);
        assert!(expiry.is_empty());
    }

    #[test]
    fn generation_ids_count_from_zero_again_before_the_sentinels() {
        let mut expiry = Expiry::new(100);
        expiry.first_id = MARK - 3;
        for stamp in 0..6 {
            expiry.schedule(stamp as u32, stamp);
        }
        assert!(expiry.first_id < 6, "renumbered");
        for slot in 0..6 {
            assert_eq!(expiry.deadline(slot), Some(u64::from(slot) + 100));
        }
        expiry.cancel(4);
        let mut out = Vec::new();
        expiry.advance(1_000, &mut out);
        assert_eq!(out, vec![0, 1, 2, 3, 5]);
    }
}
