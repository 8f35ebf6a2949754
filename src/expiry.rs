//! The expiry schedule of one map: entries grouped into *generations* (all
//! entries stamped at one moment share one deadline, as every map has one
//! TTL), and the generations scheduled on the hierarchical timer wheel.
//!
//! Why not each entry on the wheel: measured in Rust alone, the wheel's
//! schedule and cancel were half the ledger's cost per insert+remove (23 of
//! 45 ns). Here an insert is a push onto the current generation and a remove
//! is a counter decrement; the wheel holds one timer per generation. This is
//! what Caffeine does for a fixed expire-after-write (a write-order queue),
//! with the wheel kept for ordering the generations.
//!
//! A generation's list may hold stale members (removed, or refreshed into a
//! newer generation): a slot is a member only while `slot_generation` names
//! that generation. Lists are compacted when most members are stale, so
//! memory stays within a small factor of the live entries.

use crate::wheel::{Wheel, MAX_DELAY_MS};
use std::collections::TryReserveError;

const NONE: u32 = u32::MAX;
const MARK: u32 = u32::MAX - 1;
/// A list shorter than this is never compacted (not worth it).
const COMPACT_MIN: usize = 64;

struct Generation {
    stamp: u64,
    deadline: u64,
    slots: Vec<u32>,
    live: u32,
    /// Off the wheel, in `parked`: its deadline is beyond the wheel's reach.
    parked: bool,
}

pub struct Expiry {
    ttl_ms: u64,
    wheel: Wheel,
    generations: Vec<Generation>,
    free_ids: Vec<u32>,
    /// The generation that takes new entries stamped at its stamp.
    current: u32,
    slot_generation: Vec<u32>,
    /// Generations whose deadline lies more than the wheel's longest delay
    /// past the time it has advanced to (stamped after a long gap between
    /// expiry ticks, or by a custom clock that jumped): the wheel would clamp
    /// them and expire them early. They join the wheel once it is close.
    parked: Vec<u32>,
}

impl Expiry {
    pub fn new(ttl_ms: u64, now: u64) -> Self {
        Expiry {
            ttl_ms,
            wheel: Wheel::new(now),
            generations: Vec::new(),
            free_ids: Vec::new(),
            current: NONE,
            slot_generation: Vec::new(),
            parked: Vec::new(),
        }
    }

    /// Scheduled entries: the members of every generation (a free one has
    /// none). Counted when asked, O(generations), so that scheduling and
    /// cancelling keep one counter fewer up to date.
    pub fn len(&self) -> usize {
        self.generations.iter().map(|g| g.live as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.generations.iter().all(|g| g.live == 0)
    }

    /// Makes `slot` an index of the schedule (unscheduled). Running out of
    /// memory is an error, not an abort, and then nothing has changed.
    pub fn grow_to_hold(&mut self, slot: u32) -> Result<(), TryReserveError> {
        let len = self.slot_generation.len().max(slot as usize + 1);
        self.slot_generation
            .try_reserve(len - self.slot_generation.len())?;
        self.slot_generation.resize(len, NONE);
        Ok(())
    }

    /// Schedules `slot` to expire `ttl` after `stamp`, replacing any earlier
    /// schedule. A stamp older than the newest generation's joins it: the
    /// entry then expires a little late, never early.
    pub fn schedule(&mut self, slot: u32, stamp: u64) {
        self.cancel(slot);
        self.schedule_unscheduled(slot, stamp);
    }

    /// [`Expiry::schedule`] for a slot known not to be scheduled (a fresh
    /// insert): the ledger's hot path, with no cancel to try.
    #[inline(always)]
    pub fn schedule_unscheduled(&mut self, slot: u32, stamp: u64) {
        let index = slot as usize;
        if index >= self.slot_generation.len() {
            self.slot_generation.resize(index + 1, NONE);
        }
        debug_assert_eq!(
            self.slot_generation[index], NONE,
            "slot {slot} is scheduled"
        );
        let id = self.generation_for(stamp);
        let generation = &mut self.generations[id as usize];
        generation.slots.push(slot);
        generation.live += 1;
        self.slot_generation[index] = id;
    }

    /// Takes `slot` off the schedule; a no-op when it is not scheduled.
    #[inline]
    pub fn cancel(&mut self, slot: u32) {
        let Some(&id) = self.slot_generation.get(slot as usize) else {
            return;
        };
        if id == NONE {
            return;
        }
        self.slot_generation[slot as usize] = NONE;
        let generation = &mut self.generations[id as usize];
        generation.live -= 1;
        let mostly_stale = generation.slots.len() >= COMPACT_MIN
            && (generation.live as usize) * 4 < generation.slots.len();
        if generation.live == 0 || mostly_stale {
            self.tidy(id);
        }
    }

    /// After a cancel: an empty generation is dropped, a mostly stale one
    /// compacted. Out of line: it is rare, and the cancel is hot.
    #[cold]
    #[inline(never)]
    fn tidy(&mut self, id: u32) {
        if self.generations[id as usize].live == 0 {
            self.wheel.cancel(id);
            self.release(id);
        } else {
            self.compact(id);
        }
    }

    /// The deadline of a scheduled slot.
    pub fn deadline(&self, slot: u32) -> Option<u64> {
        let id = *self.slot_generation.get(slot as usize)?;
        (id != NONE).then(|| self.generations[id as usize].deadline)
    }

    /// The earliest moment something can expire (a lower bound).
    pub fn next_deadline(&self) -> Option<u64> {
        let parked = self
            .parked
            .iter()
            .map(|&id| self.generations[id as usize].deadline)
            .min();
        match (self.wheel.next_deadline(), parked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Appends every slot due at `now` to `expired`, oldest generation first
    /// and in scheduling order within one, each exactly once.
    pub fn advance(&mut self, now: u64, expired: &mut Vec<u32>) {
        let mut due = Vec::new();
        self.wheel.advance(now, &mut due);
        if !self.parked.is_empty() {
            self.unpark(now, &mut due);
        }
        for id in due {
            let slots = std::mem::take(&mut self.generations[id as usize].slots);
            for slot in slots {
                if self.slot_generation[slot as usize] == id {
                    self.slot_generation[slot as usize] = NONE;
                    expired.push(slot);
                }
            }
            self.release(id);
        }
    }

    /// Parked generations now due join `due` (after the wheel's: their
    /// deadlines are later); those now within reach join the wheel.
    #[cold]
    #[inline(never)]
    fn unpark(&mut self, now: u64, due: &mut Vec<u32>) {
        for id in std::mem::take(&mut self.parked) {
            let deadline = self.generations[id as usize].deadline;
            if deadline <= now {
                self.generations[id as usize].parked = false;
                due.push(id);
            } else if self.within_reach(deadline) {
                self.generations[id as usize].parked = false;
                self.wheel.schedule(id, deadline);
            } else {
                self.parked.push(id);
            }
        }
    }

    fn within_reach(&self, deadline: u64) -> bool {
        deadline < self.wheel.elapsed().saturating_add(MAX_DELAY_MS)
    }

    pub fn clear(&mut self) {
        self.wheel.clear();
        self.parked.clear();
        self.generations.clear();
        self.free_ids.clear();
        self.slot_generation.clear();
        self.current = NONE;
    }

    #[inline]
    fn generation_for(&mut self, stamp: u64) -> u32 {
        if self.current != NONE && stamp <= self.generations[self.current as usize].stamp {
            return self.current;
        }
        self.start_generation(stamp)
    }

    #[cold]
    #[inline(never)]
    fn start_generation(&mut self, stamp: u64) -> u32 {
        let deadline = stamp.saturating_add(self.ttl_ms);
        let generation = Generation {
            stamp,
            deadline,
            slots: Vec::new(),
            live: 0,
            parked: false,
        };
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.generations[id as usize] = generation;
                id
            }
            None => {
                self.generations.push(generation);
                (self.generations.len() - 1) as u32
            }
        };
        if self.within_reach(deadline) {
            self.wheel.schedule(id, deadline);
        } else {
            self.generations[id as usize].parked = true;
            self.parked.push(id);
        }
        self.current = id;
        id
    }

    /// Forgets an empty or expired generation; its id is reused.
    fn release(&mut self, id: u32) {
        let generation = &mut self.generations[id as usize];
        generation.slots = Vec::new();
        generation.live = 0;
        if std::mem::take(&mut generation.parked) {
            self.parked.retain(|&parked| parked != id);
        }
        self.free_ids.push(id);
        if self.current == id {
            self.current = NONE;
        }
    }

    /// Drops stale members (and duplicates: a slot removed and re-added
    /// within one generation is listed twice), keeping the order.
    fn compact(&mut self, id: u32) {
        let slots = std::mem::take(&mut self.generations[id as usize].slots);
        let mut kept = Vec::with_capacity(self.generations[id as usize].live as usize);
        for slot in slots {
            if self.slot_generation[slot as usize] == id {
                self.slot_generation[slot as usize] = MARK;
                kept.push(slot);
            }
        }
        for &slot in &kept {
            self.slot_generation[slot as usize] = id;
        }
        self.generations[id as usize].slots = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_beyond_the_wheels_reach_is_never_early() {
        let mut expiry = Expiry::new(5, 1_000);
        // Stamped 2^32 ms after the wheel last advanced.
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
        // A parked generation emptied by cancels is forgotten.
        expiry.schedule(3, stamp + (1 << 33));
        expiry.cancel(3);
        assert!(expiry.parked.is_empty());
        assert!(expiry.is_empty());
    }

    #[test]
    fn entries_expire_with_their_generation_in_order() {
        let mut expiry = Expiry::new(100, 0);
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
        let mut expiry = Expiry::new(100, 0);
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
        let mut expiry = Expiry::new(100, 0);
        expiry.schedule(1, 50);
        expiry.schedule(2, 10);
        assert_eq!(expiry.deadline(2), Some(150));
        let mut out = Vec::new();
        expiry.advance(149, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn compaction_keeps_members_once_and_in_order() {
        let mut expiry = Expiry::new(1_000, 0);
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
    fn an_empty_generation_is_released_and_its_id_reused() {
        let mut expiry = Expiry::new(100, 0);
        expiry.schedule(1, 0);
        expiry.cancel(1);
        expiry.schedule(2, 1);
        assert_eq!(expiry.generations.len(), 1);
        let mut out = Vec::new();
        expiry.advance(101, &mut out);
        assert_eq!(out, vec![2]);
    }
}
