//! The ledger of one map: what is live, since when, inserted where, and where
//! entries of each insert site are normally removed. Plain Rust, no napi.
//!
//! The ledger never sees keys or values, only *slots*: the JS facade numbers
//! each live entry with a small integer, reuses numbers after a delete, and
//! tells the ledger about every operation through the operation log
//! ([`crate::oplog`]). Reading the figures costs O(sites), never O(entries).

use crate::expiry::{Expiry, MAX_DELAY_MS};
use crate::lifetimes::Lifetimes;
use crate::oplog::{self, DecodeError, Op, HELD_SITE};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Slot numbers at or above this are refused (the op log's 29 bits; a JS Map
/// holds at most 2^24 entries anyway).
pub const MAX_SLOTS: u32 = 1 << 29;
/// How far past the current end an insert may land (the facade lands at most
/// one past it).
const MAX_SLOT_GAP: usize = 1 << 16;
const FREE: u32 = u32::MAX;
/// A live slot whose insert time is in `old_inserts`.
const OLD: u32 = u32::MAX - 1;
const NIL: u32 = u32::MAX;
/// Entries older than this move to `old_inserts` at the next sweep, and the
/// ledger sweeps whenever its clock has advanced this far: a slot's wrapping
/// 32-bit time is then never more than 2^31 ms behind the clock.
const SWEEP_MS: u64 = 1 << 30;
/// The pseudo-site of entries whose insert site was not recorded.
const UNRECORDED: usize = 0;

/// Lifetime figures of a map or of one insert site.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub live: u64,
    pub inserts: u64,
    pub removes: u64,
    pub expired: u64,
    pub overwrites: u64,
}

/// Where the entries of one insert stack went. The key is the whole word an
/// INSERT carried (an interned stack id, plus any flag bits the facade sets),
/// so every caller of a shared helper has its own figures; reports group
/// stacks by their top frame.
///
/// When not every insert is recorded, each recorded insert stands for itself
/// and the unrecorded inserts just before it (its *weight*), and every figure
/// here (live, inserts, removes, expired, lifetimes) is a sum of weights: an
/// unbiased estimate of the stack's share of the whole map.
#[derive(Clone, Debug, Default)]
pub struct SiteLedger {
    /// The INSERT's site word: an interned stack id (0 for the "not
    /// recorded" group).
    pub site: u32,
    /// Inserted by `hold()`/`acquire()`, which remove their entries when the
    /// call ends: a held site is its own group, apart from plain `set`s at
    /// the same site.
    pub held: bool,
    pub counts: Counts,
    /// Recorded inserts, each once whatever its weight: the verdicts' tests
    /// count what was seen, not the estimates it stands for.
    pub samples: u64,
    /// Ages at removal (not at expiry: an expiry is the leak, not a lifetime).
    pub lifetimes: Lifetimes,
    /// Remove sites seen removing this site's entries one by one, with how
    /// often each was observed. Remove sites are sampled, at random, so
    /// reports share the site's removes out in proportion.
    pub removed_at: Vec<(u32, u64)>,
    /// Entries removed by `clear()`, exactly, per clear site.
    pub cleared_by: Vec<(u32, u64)>,
    oldest: u32,
    newest: u32,
}

/// Insert time in ms since the ledger's epoch, wrapping every 49.7 days, so a
/// slot costs 4 bytes: entries older than 12 days (rare, and a leak when they
/// are) keep their full time in `old_inserts` instead and are marked OLD.
/// FREE marks a slot with no live entry.
///
/// `serial` numbers the insert that filled the slot (the map's inserts,
/// counted from 1, wrapping at 2^32): the facade numbers its inserts the
/// same way, so an expired entry handed back is checked to be the very entry
/// JavaScript still holds in that slot.
#[derive(Clone, Copy)]
struct Slot {
    inserted: u32,
    serial: u32,
}

const FREE_SLOT: Slot = Slot {
    inserted: FREE,
    serial: 0,
};

/// A recorded entry's site (index into `sites`) and its place in that site's
/// insertion-order list.
#[derive(Clone, Copy)]
struct SiteLink {
    site: u32,
    prev: u32,
    next: u32,
}

/// Slots and site ids are small integers: hashing them is one multiply.
#[derive(Default)]
struct SlotHasher(u64);
impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
type SlotMap<V> = HashMap<u32, V, BuildHasherDefault<SlotHasher>>;

/// Inserts and removes of unrecorded entries during one drain, kept in
/// registers and added to the counts once at its end: the hot loop then
/// updates no counters in memory (six per insert+remove otherwise).
#[derive(Default)]
struct Tally {
    inserts: u64,
    removes: u64,
}

/// Live entries older than some age (`Ledger::live_older_than`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Older {
    /// What they stand for (weights).
    pub weighted: u64,
    /// How many were seen.
    pub entries: u64,
    /// More may be older than the count read.
    pub more: bool,
}

/// One expired entry, handed back to JS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expired {
    pub slot: u32,
    pub site: u32,
    pub age_ms: u64,
    /// The serial of the insert that filled the slot (see [`Slot`]).
    pub serial: u32,
}

/// One live entry as JavaScript knows it, for [`Ledger::rebuild`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveEntry {
    pub slot: u32,
    /// The INSERT's site word (0 when its site was not recorded).
    pub site: u32,
    pub serial: u32,
}

/// What the ledger knows of one live entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    pub inserted_at: u64,
    pub age_ms: u64,
    pub expires_in_ms: Option<u64>,
    pub site: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerError {
    Decode(DecodeError),
    SlotOutOfRange(u32),
    NotLive(&'static str, u32),
    AlreadyLive(u32),
    OutOfMemory,
}

impl From<DecodeError> for LedgerError {
    fn from(error: DecodeError) -> Self {
        LedgerError::Decode(error)
    }
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerError::Decode(e) => e.fmt(f),
            LedgerError::SlotOutOfRange(slot) => write!(f, "slot {slot} is out of range"),
            LedgerError::NotLive(op, slot) => write!(f, "{op} of slot {slot}, which is not live"),
            LedgerError::AlreadyLive(slot) => write!(f, "insert into slot {slot}, which is live"),
            LedgerError::OutOfMemory => write!(f, "no memory for one more slot"),
        }
    }
}

pub struct Ledger {
    ttl_ms: u64,
    epoch: u64,
    now: u64,
    counts: Counts,
    recorded_inserts: u64,
    /// Unrecorded inserts counted up to the last recorded insert: the next
    /// recorded insert's weight is 1 + those since.
    unrecorded_weighed: u64,
    /// Weights of recorded entries that stand for more than themselves (only
    /// when sampling: in 'all' mode every weight is 1 and this stays empty).
    weights: SlotMap<u32>,
    slots: Vec<Slot>,
    sites: Vec<SiteLedger>,
    site_index: SlotMap<u32>,
    /// Recorded entries: their site and insertion-order links per site (oldest
    /// first), so a site's oldest live entry is its list head. Unrecorded
    /// entries (most of them in 'sampled' mode) have none and cost nothing
    /// here; the map's oldest comes from the facade (its Map's first entry).
    site_links: SlotMap<SiteLink>,
    /// One bit per slot: does it have a `site_links` record? Unrecorded
    /// entries (all in 'off' mode, most in 'sampled') then cost no hash lookup.
    recorded: Vec<u64>,
    oldest_slot: u32,
    expiry: Option<Expiry>,
    /// Full insert times of the live slots marked OLD.
    old_inserts: SlotMap<u64>,
    /// The clock at the last sweep into `old_inserts`.
    swept_at: u64,
    /// The serial of the last insert applied (see [`Slot`]).
    last_serial: u32,
    /// Some entry's TTL was restarted by touch().
    touched: bool,
    /// How often the ledger was rebuilt from the facade's state, and when last.
    resets: u32,
    reset_at: Option<u64>,
}

impl Ledger {
    /// `ttl_ms` 0 means entries never expire. `now` is the map's clock (ms).
    pub fn new(ttl_ms: u64, now: u64) -> Self {
        let ttl_ms = ttl_ms.min(MAX_DELAY_MS);
        let unrecorded = SiteLedger {
            oldest: NIL,
            newest: NIL,
            ..SiteLedger::default()
        };
        Ledger {
            ttl_ms,
            epoch: now,
            now,
            counts: Counts::default(),
            recorded_inserts: 0,
            unrecorded_weighed: 0,
            weights: SlotMap::default(),
            slots: Vec::new(),
            sites: vec![unrecorded],
            site_index: SlotMap::default(),
            site_links: SlotMap::default(),
            recorded: Vec::new(),
            oldest_slot: NIL,
            expiry: (ttl_ms > 0).then(|| Expiry::new(ttl_ms)),
            old_inserts: SlotMap::default(),
            swept_at: now,
            last_serial: 0,
            touched: false,
            resets: 0,
            reset_at: None,
        }
    }

    /// How often the ledger was rebuilt ([`Ledger::rebuild`]) and the map's
    /// clock at the last time.
    pub fn resets(&self) -> (u32, Option<u64>) {
        (self.resets, self.reset_at)
    }

    /// Starts the ledger again from the facade's own state when the two may
    /// have drifted apart (a hand-over that did not finish, a batch refused or
    /// lost): `live` is every entry JavaScript holds, `last_serial` its insert
    /// counter. Entries the ledger still knows under the same serial keep
    /// their insert time; others count as inserted `now` (so they expire late,
    /// never early). The map's own totals carry on (counters never go down);
    /// per-site figures and lifetimes start afresh, and the report says when.
    pub fn rebuild(
        &mut self,
        live: &[LiveEntry],
        last_serial: u32,
        now: u64,
    ) -> Result<(), LedgerError> {
        self.advance_clock(now);
        let mut known: Vec<(u64, LiveEntry)> = Vec::new();
        known
            .try_reserve_exact(live.len())
            .map_err(|_| LedgerError::OutOfMemory)?;
        for entry in live {
            let inserted = match self.live_slot(entry.slot) {
                Some(slot) if slot.serial == entry.serial => self.inserted_at(entry.slot),
                _ => now,
            };
            known.push((inserted, *entry));
        }
        // Oldest first: the expiry queue and each site's list are kept in
        // insertion order.
        known.sort_by_key(|&(inserted, entry)| (inserted, entry.serial));
        let mut fresh = Ledger::new(self.ttl_ms, self.epoch);
        fresh.advance_clock(self.now);
        let mut tally = Tally::default();
        for &(inserted, entry) in &known {
            fresh.insert(entry.slot, entry.site, inserted, inserted, &mut tally)?;
            fresh.slots[entry.slot as usize].serial = entry.serial;
        }
        fresh.settle(tally);
        fresh.counts = Counts {
            live: known.len() as u64,
            ..self.counts
        };
        fresh.last_serial = last_serial;
        fresh.touched = self.touched;
        fresh.resets = self.resets.saturating_add(1);
        fresh.reset_at = Some(self.now);
        *self = fresh;
        Ok(())
    }

    pub fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    #[cfg(test)]
    /// Inserts whose site was recorded (all of them in `'all'` mode).
    pub fn recorded_inserts(&self) -> u64 {
        self.recorded_inserts
    }

    /// True when some insert went unrecorded: per-site figures are then
    /// weighted estimates (the map's own counts stay exact).
    pub fn estimated(&self) -> bool {
        self.recorded_inserts > 0 && self.recorded_inserts < self.counts.inserts
    }

    /// The last time the map's clock was read.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Per-site ledgers, the "not recorded" group first.
    pub fn sites(&self) -> &[SiteLedger] {
        &self.sites
    }

    #[cfg(test)]
    /// Applies a drained operation log, then expires what is due at `now`.
    /// Operations without a preceding TIME word are stamped `now`: the latest
    /// moment they can have happened, so an entry never expires early.
    pub fn drain(&mut self, words: &[i32], now: u64) -> Result<Vec<Expired>, LedgerError> {
        self.apply(words, now)?;
        Ok(self.expire(now))
    }

    pub fn apply(&mut self, words: &[i32], now: u64) -> Result<(), LedgerError> {
        self.advance_clock(now);
        let mut tally = Tally::default();
        let applied = self.apply_ops(words, now, &mut tally);
        // Also after an error: the operations before it were applied.
        self.settle(tally);
        applied
    }

    /// `now` is the batch's time: no operation in it happened later. An
    /// operation is dated by the TIME word before it (or `now`), and its TTL
    /// runs from that date, or from `now` when the date came from the coarse
    /// clock, which may lag (`oplog::TIME_COARSE`).
    fn apply_ops(&mut self, words: &[i32], now: u64, tally: &mut Tally) -> Result<(), LedgerError> {
        let mut stamp = now;
        let mut due_from = now;
        oplog::apply_each(
            words,
            #[inline(always)]
            |op| match op {
                Op::Time { ms, coarse } => {
                    stamp = ms;
                    due_from = if coarse { ms.max(now) } else { ms };
                    self.advance_clock(ms);
                    Ok(())
                }
                Op::Insert { slot, site } => self.insert(slot, site, stamp, due_from, tally),
                Op::Remove { slot, site } => self.remove(slot, site, stamp, tally),
                Op::Overwrite { slot } => self.refresh(slot, due_from, true),
                Op::Touch { slot } => self.refresh(slot, due_from, false),
                Op::Clear { site } => {
                    // clear() reads the live counts: bring them up to date.
                    self.settle(std::mem::take(tally));
                    self.clear(site);
                    Ok(())
                }
            },
        )
    }

    /// Adds a drain's unrecorded inserts and removes to the map's counts and
    /// to the "not recorded" group's (the two move in step for them).
    fn settle(&mut self, tally: Tally) {
        for counts in [&mut self.counts, &mut self.sites[UNRECORDED].counts] {
            counts.inserts += tally.inserts;
            counts.removes += tally.removes;
            // Every tallied remove is of an entry counted live or tallied
            // inserted: this never underflows.
            counts.live = counts.live + tally.inserts - tally.removes;
        }
    }

    /// Takes every entry whose deadline is `<= now` out of the ledger.
    pub fn expire(&mut self, now: u64) -> Vec<Expired> {
        self.advance_clock(now);
        let Some(expiry) = self.expiry.as_mut() else {
            return Vec::new();
        };
        let mut due = Vec::new();
        expiry.advance(now, &mut due);
        due.into_iter()
            .map(|slot| {
                let age_ms = self.age_of(slot, now);
                let index = if self.is_recorded(slot) {
                    self.end_recorded(slot, age_ms, Ending::Expired)
                } else {
                    let counts = &mut self.sites[UNRECORDED].counts;
                    counts.live -= 1;
                    counts.expired += 1;
                    UNRECORDED
                };
                let serial = self.slots[slot as usize].serial;
                self.free_slot(slot);
                self.counts.live -= 1;
                self.counts.expired += 1;
                Expired {
                    slot,
                    site: self.sites[index].site,
                    age_ms,
                    serial,
                }
            })
            .collect()
    }

    /// The facade tells the ledger which slot is its oldest live entry (the
    /// first in its Map's insertion order); -1 or an unknown slot for none.
    pub fn set_oldest_slot(&mut self, slot: i64) {
        self.oldest_slot = u32::try_from(slot)
            .ok()
            .filter(|&s| self.is_live(s))
            .unwrap_or(NIL);
    }

    /// Ages are measured at `now`, which may be later than the last drain
    /// (a report read from another thread uses the wall clock).
    pub fn oldest_age_ms(&self, now: u64) -> Option<u64> {
        self.live_slot(self.oldest_slot)
            .map(|_| self.age_of(self.oldest_slot, now))
    }

    /// Whether the app has ever restarted an entry's TTL with touch(): it
    /// then keeps its entries alive as long as they are used.
    pub fn touched(&self) -> bool {
        self.touched
    }

    /// The age of a site's oldest live recorded entry.
    pub fn site_oldest_age_ms(&self, site: &SiteLedger, now: u64) -> Option<u64> {
        self.live_slot(site.oldest)
            .map(|_| self.age_of(site.oldest, now))
    }

    /// A stack's live entries older than `age_ms`: its entries are listed
    /// oldest first, so this reads only the old ones, at most `cap`.
    pub fn live_older_than(&self, site: &SiteLedger, now: u64, age_ms: u64, cap: usize) -> Older {
        let mut slot = site.oldest;
        let mut older = Older::default();
        for _ in 0..cap {
            if self.live_slot(slot).is_none() || self.age_of(slot, now) <= age_ms {
                return older;
            }
            older.weighted += self.weight_of(slot);
            older.entries += 1;
            slot = self.site_links.get(&slot).map_or(NIL, |link| link.next);
        }
        older.more = self
            .live_slot(slot)
            .is_some_and(|_| self.age_of(slot, now) > age_ms);
        older
    }

    pub fn entry(&self, slot: u32, now: u64) -> Option<EntryInfo> {
        self.live_slot(slot)?;
        let now = now.max(self.now);
        let age_ms = self.age_of(slot, now);
        let deadline = self.expiry.as_ref().and_then(|e| e.deadline(slot));
        Some(EntryInfo {
            inserted_at: now - age_ms,
            age_ms,
            expires_in_ms: deadline.map(|d| d.saturating_sub(now)),
            site: self.sites[self.site_of(slot)].site,
        })
    }

    #[cfg(test)]
    /// Number of scheduled expiries (equals live entries when a TTL is set).
    pub fn scheduled(&self) -> usize {
        self.expiry.as_ref().map_or(0, Expiry::len)
    }

    fn is_live(&self, slot: u32) -> bool {
        self.live_slot(slot).is_some()
    }

    fn live_slot(&self, slot: u32) -> Option<Slot> {
        self.slots
            .get(slot as usize)
            .copied()
            .filter(|s| s.inserted != FREE)
    }

    /// Index into `sites` of a live slot's insert site.
    fn site_of(&self, slot: u32) -> usize {
        if !self.is_recorded(slot) {
            return UNRECORDED;
        }
        self.site_links
            .get(&slot)
            .map_or(UNRECORDED, |link| link.site as usize)
    }

    fn is_recorded(&self, slot: u32) -> bool {
        self.recorded
            .get(slot as usize / 64)
            .is_some_and(|word| word >> (slot % 64) & 1 == 1)
    }

    fn mark_recorded(&mut self, slot: u32, recorded: bool) {
        let word = slot as usize / 64;
        if word >= self.recorded.len() {
            self.recorded.resize(word + 1, 0);
        }
        let bit = 1u64 << (slot % 64);
        if recorded {
            self.recorded[word] |= bit;
        } else {
            self.recorded[word] &= !bit;
        }
    }

    fn relative(&self, ms: u64) -> u32 {
        ms.wrapping_sub(self.epoch) as u32
    }

    /// When a live slot's entry was inserted, in the map's clock.
    fn inserted_at(&self, slot: u32) -> u64 {
        let inserted = self.slots[slot as usize].inserted;
        if inserted == OLD {
            return self.old_inserts.get(&slot).copied().unwrap_or(self.now);
        }
        // Exact: no slot outside `old_inserts` is 2^31 ms or more behind the clock.
        let behind = self.relative(self.now).wrapping_sub(inserted);
        self.now.saturating_sub(u64::from(behind))
    }

    fn age_of(&self, slot: u32, now: u64) -> u64 {
        // A clock that went backwards (a test's fake clock) gives age 0.
        now.saturating_sub(self.inserted_at(slot))
    }

    /// Moves the ledger's clock forward (never back). Before it moves 2^30
    /// ms past the last sweep, slots that old take their full time to
    /// `old_inserts`, so ages stay exact however long an entry lives.
    fn advance_clock(&mut self, now: u64) {
        if now <= self.now {
            return;
        }
        if now - self.swept_at >= SWEEP_MS {
            self.sweep_old(now);
        }
        self.now = now;
    }

    #[cold]
    #[inline(never)]
    fn sweep_old(&mut self, now: u64) {
        for slot in 0..self.slots.len() as u32 {
            let inserted = self.slots[slot as usize].inserted;
            if inserted == FREE || inserted == OLD {
                continue;
            }
            let at = self.inserted_at(slot);
            if now - at >= SWEEP_MS {
                self.old_inserts.insert(slot, at);
                self.slots[slot as usize].inserted = OLD;
            }
        }
        self.swept_at = now;
    }

    /// `stamp` dates the entry; its TTL runs from `due_from`.
    #[inline(always)]
    fn insert(
        &mut self,
        slot: u32,
        site: u32,
        stamp: u64,
        due_from: u64,
        tally: &mut Tally,
    ) -> Result<(), LedgerError> {
        let at = slot as usize;
        if at >= self.slots.len() {
            self.grow_to_hold(slot)?;
        }
        if self.slots[at].inserted != FREE {
            return Err(LedgerError::AlreadyLive(slot));
        }
        self.last_serial = self.last_serial.wrapping_add(1);
        if self.now - stamp.min(self.now) >= SWEEP_MS {
            self.insert_old(slot, stamp);
        } else {
            // Two milliseconds in 2^32 would read as FREE or OLD: shift them.
            self.slots[at].inserted = self.relative(stamp).min(OLD - 1);
        }
        self.slots[at].serial = self.last_serial;
        // A held insert whose site was not recorded is counted like any
        // unrecorded one.
        if site & !HELD_SITE == 0 {
            tally.inserts += 1;
        } else {
            self.insert_recorded(slot, site, tally.inserts);
        }
        if let Some(expiry) = self.expiry.as_mut() {
            // A free slot is never scheduled (release and expiry unschedule
            // it): nothing to cancel first.
            expiry.schedule_unscheduled(slot, due_from);
        }
        Ok(())
    }

    /// A stamp already 2^30 ms behind the clock (a custom clock that went
    /// back): its full time goes to `old_inserts` at once.
    #[cold]
    #[inline(never)]
    fn insert_old(&mut self, slot: u32, stamp: u64) {
        self.old_inserts.insert(slot, stamp);
        self.slots[slot as usize].inserted = OLD;
    }

    /// Makes `slot` an index of `slots` (and of the expiry schedule, which
    /// grows in step, so inserts into known slots never reserve).
    #[cold]
    #[inline(never)]
    fn grow_to_hold(&mut self, slot: u32) -> Result<(), LedgerError> {
        // The facade numbers slots densely (a free one, or the next new one):
        // a slot far past the end is corrupt input, refused before it can ask
        // for gigabytes, and an allocation failure is an error, not an abort.
        let at = slot as usize;
        if slot >= MAX_SLOTS || at > self.slots.len() + MAX_SLOT_GAP {
            return Err(LedgerError::SlotOutOfRange(slot));
        }
        let len = at + 1;
        self.slots
            .try_reserve(len - self.slots.len())
            .map_err(|_| LedgerError::OutOfMemory)?;
        if let Some(expiry) = self.expiry.as_mut() {
            expiry
                .grow_to_hold(slot)
                .map_err(|_| LedgerError::OutOfMemory)?;
        }
        self.slots.resize(len, FREE_SLOT);
        Ok(())
    }

    /// `tallied`: unrecorded inserts of this drain so far (not yet settled).
    #[cold]
    #[inline(never)]
    fn insert_recorded(&mut self, slot: u32, site: u32, tallied: u64) {
        let index = self.site_index_of(site) as usize;
        let unrecorded = self.sites[UNRECORDED].counts.inserts + tallied;
        let weight = 1 + unrecorded - self.unrecorded_weighed;
        self.unrecorded_weighed = unrecorded;
        let weight = weight.min(u64::from(u32::MAX));
        if weight > 1 {
            self.weights.insert(slot, weight as u32);
        }
        self.counts.live += 1;
        self.counts.inserts += 1;
        let site = &mut self.sites[index];
        site.samples += 1;
        site.counts.live += weight;
        site.counts.inserts += weight;
        self.recorded_inserts += 1;
        self.link_newest(index, slot);
    }

    fn weight_of(&self, slot: u32) -> u64 {
        if self.weights.is_empty() {
            return 1;
        }
        self.weights.get(&slot).map_or(1, |&w| u64::from(w))
    }

    #[inline(always)]
    fn remove(
        &mut self,
        slot: u32,
        remove_site: u32,
        stamp: u64,
        tally: &mut Tally,
    ) -> Result<(), LedgerError> {
        if !self.is_live(slot) {
            return Err(LedgerError::NotLive("remove", slot));
        }
        let index = if self.is_recorded(slot) {
            let age_ms = self.age_of(slot, stamp);
            self.counts.live -= 1;
            self.counts.removes += 1;
            self.end_recorded(slot, age_ms, Ending::Removed)
        } else {
            tally.removes += 1;
            UNRECORDED
        };
        self.free_slot(slot);
        if remove_site != 0 {
            credit(&mut self.sites[index].removed_at, remove_site, 1);
        }
        Ok(())
    }

    /// Counts a recorded entry out of its stack (by its weight), records its
    /// lifetime if it was removed, and unlinks it; returns the stack's index.
    /// The map's own counts are the caller's.
    #[cold]
    #[inline(never)]
    fn end_recorded(&mut self, slot: u32, age_ms: u64, ending: Ending) -> usize {
        let weight = if self.weights.is_empty() {
            1
        } else {
            self.weights.remove(&slot).map_or(1, u64::from)
        };
        let index = self.release_recorded(slot);
        let site = &mut self.sites[index];
        site.counts.live -= weight;
        match ending {
            Ending::Removed => {
                site.counts.removes += weight;
                site.lifetimes.record(age_ms, weight);
            }
            Ending::Expired => site.counts.expired += weight,
        }
        index
    }

    fn refresh(&mut self, slot: u32, stamp: u64, overwrite: bool) -> Result<(), LedgerError> {
        if !self.is_live(slot) {
            return Err(LedgerError::NotLive(
                if overwrite { "overwrite" } else { "touch" },
                slot,
            ));
        }
        self.touched |= !overwrite;
        if overwrite {
            self.counts.overwrites += 1;
            let index = self.site_of(slot);
            let weight = if index == UNRECORDED {
                1
            } else {
                self.weight_of(slot)
            };
            self.sites[index].counts.overwrites += weight;
        }
        self.schedule(slot, stamp);
        Ok(())
    }

    /// Every live entry is removed at once, credited to the clear's site.
    fn clear(&mut self, clear_site: u32) {
        for ledger in &mut self.sites {
            let live = std::mem::take(&mut ledger.counts.live);
            ledger.counts.removes += live;
            if clear_site != 0 && live > 0 {
                credit(&mut ledger.cleared_by, clear_site, live);
            }
            ledger.oldest = NIL;
            ledger.newest = NIL;
        }
        self.counts.removes += self.counts.live;
        self.counts.live = 0;
        self.slots.clear();
        self.old_inserts.clear();
        self.site_links.clear();
        self.weights.clear();
        self.recorded.clear();
        self.oldest_slot = NIL;
        if let Some(expiry) = self.expiry.as_mut() {
            expiry.clear();
        }
    }

    fn schedule(&mut self, slot: u32, stamp: u64) {
        if let Some(expiry) = self.expiry.as_mut() {
            expiry.schedule(slot, stamp);
        }
    }

    /// Frees a live slot: unscheduled, no longer the oldest. The caller
    /// counts the entry out (as removed or expired) and unlinks a recorded one
    /// first.
    #[inline(always)]
    fn free_slot(&mut self, slot: u32) {
        if self.slots[slot as usize].inserted == OLD {
            self.old_inserts.remove(&slot);
        }
        self.slots[slot as usize] = FREE_SLOT;
        if let Some(expiry) = self.expiry.as_mut() {
            expiry.cancel(slot);
        }
        if self.oldest_slot == slot {
            self.oldest_slot = NIL;
        }
    }

    /// Unlinks a recorded slot from its site's list; returns the site index.
    #[cold]
    #[inline(never)]
    fn release_recorded(&mut self, slot: u32) -> usize {
        let index = self.unlink(slot);
        self.mark_recorded(slot, false);
        index
    }

    /// Index into `sites` of a recorded insert site (never 0: unrecorded
    /// inserts are tallied, not looked up). Keyed by the whole site word, so
    /// held inserts at a site form a group of their own.
    fn site_index_of(&mut self, word: u32) -> u32 {
        debug_assert_ne!(word & !HELD_SITE, 0, "site 0 is the unrecorded group");
        if let Some(&index) = self.site_index.get(&word) {
            return index;
        }
        let index = self.sites.len() as u32;
        self.sites.push(SiteLedger {
            site: word & !HELD_SITE,
            held: word & HELD_SITE != 0,
            oldest: NIL,
            newest: NIL,
            ..SiteLedger::default()
        });
        self.site_index.insert(word, index);
        index
    }

    fn link_newest(&mut self, index: usize, slot: u32) {
        let site = &mut self.sites[index];
        let prev = site.newest;
        site.newest = slot;
        if prev == NIL {
            site.oldest = slot;
        } else if let Some(link) = self.site_links.get_mut(&prev) {
            link.next = slot;
        }
        self.mark_recorded(slot, true);
        self.site_links.insert(
            slot,
            SiteLink {
                site: index as u32,
                prev,
                next: NIL,
            },
        );
    }

    /// Takes a recorded slot out of its site's list; returns the site index
    /// (the "not recorded" group if it has no record).
    fn unlink(&mut self, slot: u32) -> usize {
        let Some(link) = self.site_links.remove(&slot) else {
            return UNRECORDED;
        };
        let index = link.site as usize;
        let site = &mut self.sites[index];
        if link.prev == NIL {
            site.oldest = link.next;
        } else if let Some(prev) = self.site_links.get_mut(&link.prev) {
            prev.next = link.next;
        }
        if link.next == NIL {
            site.newest = link.prev;
        } else if let Some(next) = self.site_links.get_mut(&link.next) {
            next.prev = link.prev;
        }
        index
    }
}

#[derive(Clone, Copy)]
enum Ending {
    Removed,
    Expired,
}

fn credit(removed_at: &mut Vec<(u32, u64)>, site: u32, weight: u64) {
    match removed_at.iter_mut().find(|(s, _)| *s == site) {
        Some((_, total)) => *total += weight,
        None => removed_at.push((site, weight)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oplog::{CLEAR, INSERT, OVERWRITE, REMOVE, REMOVE_AT, TIME, TOUCH};

    fn op(slot: u32, code: u32) -> i32 {
        (slot << 3 | code) as i32
    }
    fn insert(slot: u32, site: u32) -> [i32; 2] {
        [op(slot, INSERT), site as i32]
    }

    #[test]
    fn expired_entries_carry_the_serial_of_the_insert_that_filled_their_slot() {
        let mut ledger = Ledger::new(10, 0);
        let mut log = Vec::new();
        log.extend(insert(0, 0)); // serial 1
        log.push(op(0, REMOVE));
        log.extend(insert(1, 0)); // serial 2
        log.extend(insert(0, 4)); // serial 3, slot 0 reused
        ledger.drain(&log, 5).unwrap();
        let mut expired = ledger.drain(&[], 20).unwrap();
        expired.sort_by_key(|e| e.slot);
        let serials: Vec<(u32, u32)> = expired.iter().map(|e| (e.slot, e.serial)).collect();
        assert_eq!(serials, vec![(0, 3), (1, 2)]);
    }

    #[test]
    fn a_rebuild_takes_the_facades_live_set_keeps_known_insert_times_and_the_totals() {
        let mut ledger = Ledger::new(1_000, 0);
        let mut log = vec![TIME as i32, 100, 0];
        log.extend(insert(0, 7)); // serial 1, inserted at 100
        log.extend(insert(1, 0)); // serial 2
        log.extend(insert(2, 7)); // serial 3
        log.push(op(2, REMOVE));
        ledger.drain(&log, 100).unwrap();
        // JavaScript holds slot 0 (as the ledger does), slot 1 under another
        // serial (the ledger missed a remove and an insert) and slot 5, which
        // the ledger never heard of; the ledger's slot 1 entry is gone.
        let live = [
            LiveEntry {
                slot: 0,
                site: 7,
                serial: 1,
            },
            LiveEntry {
                slot: 1,
                site: 9,
                serial: 8,
            },
            LiveEntry {
                slot: 5,
                site: 0,
                serial: 9,
            },
        ];
        ledger.rebuild(&live, 9, 400).unwrap();
        assert_eq!(ledger.resets(), (1, Some(400)));
        let counts = ledger.counts();
        assert_eq!(
            (counts.live, counts.inserts, counts.removes),
            (3, 3, 1),
            "totals carry on, live is JavaScript's"
        );
        assert_eq!(
            ledger.entry(0, 400).unwrap().age_ms,
            300,
            "a known entry keeps its insert time"
        );
        assert_eq!(
            ledger.entry(1, 400).unwrap().age_ms,
            0,
            "a changed slot counts from the rebuild"
        );
        assert_eq!(ledger.entry(1, 400).unwrap().site, 9);
        assert_eq!(ledger.entry(5, 400).unwrap().age_ms, 0);
        assert!(ledger.entry(2, 400).is_none());
        // It works on: the next insert is serial 10, and expiry is never early.
        ledger
            .drain(&[op(2, INSERT), 0, op(1, REMOVE)], 500)
            .unwrap();
        let expired = ledger.drain(&[], 1_100).unwrap();
        assert_eq!(
            expired
                .iter()
                .map(|e| (e.slot, e.serial))
                .collect::<Vec<_>>(),
            vec![(0, 1)]
        );
        let mut later = ledger.drain(&[], 1_500).unwrap();
        later.sort_by_key(|e| e.slot);
        assert_eq!(
            later.iter().map(|e| (e.slot, e.serial)).collect::<Vec<_>>(),
            vec![(2, 10), (5, 9)]
        );
        assert_eq!(ledger.counts().live, 0);
    }

    #[test]
    fn a_rebuild_keeps_held_entries_apart() {
        let mut ledger = Ledger::new(0, 0);
        let live = [
            LiveEntry {
                slot: 0,
                site: 3 | HELD_SITE,
                serial: 1,
            },
            LiveEntry {
                slot: 1,
                site: 3,
                serial: 2,
            },
        ];
        ledger.rebuild(&live, 2, 10).unwrap();
        let held: Vec<(u32, bool, u64)> = ledger.sites()[1..]
            .iter()
            .map(|s| (s.site, s.held, s.counts.live))
            .collect();
        assert_eq!(held, vec![(3, true, 1), (3, false, 1)]);
    }

    #[test]
    fn counts_follow_operations_per_map_and_per_site() {
        let mut ledger = Ledger::new(0, 1_000);
        let mut log = Vec::new();
        log.extend(insert(0, 7));
        log.extend(insert(1, 7));
        log.extend(insert(2, 8));
        log.push(op(0, OVERWRITE));
        log.extend([op(1, REMOVE_AT), 20]);
        log.push(op(2, REMOVE));
        ledger.drain(&log, 1_000).unwrap();
        let counts = ledger.counts();
        assert_eq!(
            counts,
            Counts {
                live: 1,
                inserts: 3,
                removes: 2,
                expired: 0,
                overwrites: 1
            }
        );
        let site7 = ledger.sites().iter().find(|s| s.site == 7).unwrap();
        assert_eq!(site7.counts.live, 1);
        assert_eq!(site7.counts.overwrites, 1);
        assert_eq!(site7.removed_at, vec![(20, 1)]);
        let site8 = ledger.sites().iter().find(|s| s.site == 8).unwrap();
        assert!(site8.removed_at.is_empty());
        assert_eq!(ledger.recorded_inserts(), 3);
    }

    #[test]
    fn ttl_expiry_is_exact_once_and_counted_as_expired() {
        let mut ledger = Ledger::new(100, 0);
        let mut log = vec![TIME as i32, 10, 0];
        log.extend(insert(0, 3));
        log.extend([TIME as i32, 50, 0]);
        log.extend(insert(1, 3));
        assert!(ledger.drain(&log, 60).unwrap().is_empty());
        assert!(ledger.drain(&[], 109).unwrap().is_empty());
        let first = ledger.drain(&[], 110).unwrap();
        assert_eq!(
            first,
            vec![Expired {
                slot: 0,
                site: 3,
                age_ms: 100,
                serial: 1
            }]
        );
        assert!(ledger.drain(&[], 149).unwrap().is_empty());
        assert_eq!(ledger.drain(&[], 500).unwrap().len(), 1);
        assert!(ledger.drain(&[], 10_000).unwrap().is_empty());
        assert_eq!(ledger.counts().expired, 2);
        assert_eq!(ledger.counts().live, 0);
        assert_eq!(ledger.sites()[1].counts.expired, 2);
    }

    #[test]
    fn touch_and_overwrite_restart_the_ttl_but_not_the_age() {
        let mut ledger = Ledger::new(100, 0);
        ledger.drain(&insert(0, 0), 0).unwrap();
        ledger.drain(&[op(0, TOUCH)], 80).unwrap();
        assert!(ledger.drain(&[op(0, OVERWRITE)], 150).unwrap().is_empty());
        let info = ledger.entry(0, 150).unwrap();
        assert_eq!(info.age_ms, 150);
        assert_eq!(info.expires_in_ms, Some(100));
        assert_eq!(ledger.drain(&[], 250).unwrap().len(), 1);
    }

    #[test]
    fn ages_stay_exact_past_two_to_the_32_ms() {
        const DAY: u64 = 86_400_000;
        let start = 7 * DAY;
        let mut ledger = Ledger::new(0, start);
        // Slot 0 from the start, slot 1 recorded, slot 2 ten days later.
        ledger.drain(&insert(0, 0), start).unwrap();
        ledger.drain(&insert(1, 9), start).unwrap();
        ledger.drain(&insert(2, 0), start + 10 * DAY).unwrap();
        // Days of drains, some with nothing to do, up to 120 days.
        let mut now = start + 10 * DAY;
        while now < start + 120 * DAY {
            now += DAY / 3;
            ledger.drain(&[], now).unwrap();
        }
        let info = ledger.entry(0, now).unwrap();
        assert_eq!((info.age_ms, info.inserted_at), (120 * DAY, start));
        assert_eq!(ledger.entry(2, now).unwrap().age_ms, 110 * DAY);
        ledger.set_oldest_slot(0);
        assert_eq!(ledger.oldest_age_ms(now), Some(120 * DAY));
        assert_eq!(
            ledger.site_oldest_age_ms(&ledger.sites()[1], now),
            Some(120 * DAY)
        );
        // Read later than the last drain (another thread's report).
        assert_eq!(ledger.oldest_age_ms(now + 60 * DAY), Some(180 * DAY));
        // A freed slot's old time goes with it.
        ledger.drain(&[op(0, REMOVE)], now).unwrap();
        ledger.drain(&insert(0, 0), now).unwrap();
        assert_eq!(ledger.entry(0, now).unwrap().age_ms, 0);
        assert_eq!(ledger.old_inserts.len(), 2);
        ledger.drain(&[CLEAR as i32, 0], now).unwrap();
        assert!(ledger.old_inserts.is_empty());
    }

    #[test]
    fn a_slot_stays_eight_bytes() {
        // A 32-bit insert time and a 32-bit serial: ages past 2^32 ms cost a
        // side table for old entries, not a wider slot.
        assert_eq!(std::mem::size_of::<Slot>(), 8);
    }

    #[test]
    fn one_jump_past_two_to_the_32_ms_and_a_stamp_far_behind_the_clock() {
        let mut ledger = Ledger::new(0, 0);
        ledger.drain(&insert(0, 0), 0).unwrap();
        let later = (1 << 32) + 5_000;
        ledger.drain(&[], later).unwrap();
        assert_eq!(ledger.entry(0, later).unwrap().age_ms, later);
        // A custom clock that went far back stamps an insert: its age is exact.
        let mut log = vec![TIME as i32, 1_000, 0];
        log.extend(insert(1, 0));
        ledger.drain(&log, later).unwrap();
        assert_eq!(ledger.entry(1, later).unwrap().age_ms, later - 1_000);
    }

    #[test]
    fn oldest_per_site_follows_removals() {
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for (slot, t) in [(0u32, 10u32), (1, 20), (2, 30)] {
            log.extend([TIME as i32, t as i32, 0]);
            log.extend(insert(slot, 5));
        }
        ledger.drain(&log, 30).unwrap();
        ledger.drain(&[], 100).unwrap();
        let age = |l: &Ledger| l.site_oldest_age_ms(&l.sites()[1], 100);
        assert_eq!(age(&ledger), Some(90));
        ledger.drain(&[op(1, REMOVE)], 100).unwrap();
        assert_eq!(age(&ledger), Some(90));
        ledger.drain(&[op(0, REMOVE)], 100).unwrap();
        assert_eq!(age(&ledger), Some(70));
        ledger.drain(&[op(2, REMOVE)], 100).unwrap();
        assert_eq!(age(&ledger), None);
    }

    #[test]
    fn each_observed_remove_site_is_one_observation() {
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        for slot in 0..5 {
            log.extend(insert(slot, 9));
        }
        log.extend([op(0, REMOVE_AT), 40]);
        log.push(op(1, REMOVE));
        log.push(op(2, REMOVE));
        log.extend([op(3, REMOVE_AT), 41]);
        log.push(op(4, REMOVE));
        ledger.drain(&log, 0).unwrap();
        let site = &ledger.sites()[1];
        assert_eq!(site.removed_at, vec![(40, 1), (41, 1)]);
        assert_eq!(site.counts.removes, 5);
    }

    #[test]
    fn clear_removes_everything_and_credits_the_clear_site() {
        let mut ledger = Ledger::new(1_000, 0);
        let mut log = vec![];
        log.extend(insert(0, 2));
        log.extend(insert(1, 3));
        log.extend([CLEAR as i32, 77]);
        log.extend(insert(0, 2));
        ledger.drain(&log, 0).unwrap();
        assert_eq!(ledger.counts().live, 1);
        assert_eq!(ledger.counts().removes, 2);
        assert_eq!(ledger.scheduled(), 1);
        assert_eq!(ledger.sites()[1].cleared_by, vec![(77, 1)]);
        assert!(ledger.sites()[1].removed_at.is_empty());
        assert_eq!(ledger.drain(&[], 5_000).unwrap().len(), 1);
    }

    #[test]
    fn held_inserts_form_their_own_group_per_site() {
        let mut ledger = Ledger::new(0, 0);
        let mut log = vec![];
        log.extend(insert(0, 7));
        log.extend(insert(1, 7 | HELD_SITE));
        log.extend(insert(2, 7 | HELD_SITE));
        log.extend(insert(3, HELD_SITE));
        log.push(op(1, REMOVE));
        ledger.drain(&log, 0).unwrap();
        let groups: Vec<_> = ledger
            .sites()
            .iter()
            .skip(1)
            .map(|s| (s.site, s.held, s.counts.inserts, s.counts.live))
            .collect();
        assert_eq!(groups, vec![(7, false, 1, 1), (7, true, 2, 1)]);
        // A held insert without a recorded site is counted as unrecorded.
        assert_eq!(ledger.sites()[0].counts.inserts, 1);
        assert_eq!(ledger.recorded_inserts(), 3);
        assert_eq!(ledger.entry(2, 0).unwrap().site, 7);
        assert_eq!(ledger.counts().live, 3);
    }

    #[test]
    fn corrupt_logs_are_errors() {
        let mut ledger = Ledger::new(0, 0);
        assert_eq!(
            ledger.drain(&[op(3, REMOVE)], 0),
            Err(LedgerError::NotLive("remove", 3))
        );
        ledger.drain(&insert(3, 0), 0).unwrap();
        assert_eq!(
            ledger.drain(&insert(3, 0), 0),
            Err(LedgerError::AlreadyLive(3))
        );
        assert!(matches!(
            ledger.drain(&[op(0, TOUCH), 99], 0),
            Err(LedgerError::NotLive("touch", 0))
        ));
        assert!(matches!(ledger.drain(&[0], 0), Err(LedgerError::Decode(_))));
        assert_eq!(ledger.counts().live, 1);
    }

    /// Thousands of random operations against a model: per site, live equals
    /// inserts - removes - expired, and every figure matches the model.
    #[test]
    fn random_workload_matches_model() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut ledger = Ledger::new(500, 0);
        let mut live: HashMap<u32, (u32, u64, u64)> = HashMap::new(); // slot -> (site, deadline, weight)
        let mut model: HashMap<u32, Counts> = HashMap::new();
        // Unrecorded inserts since the last recorded one: its weight.
        let mut unweighed = 0;
        let mut now = 0u64;
        for _ in 0..20_000 {
            // Operations without a TIME word are stamped with the drain's clock.
            now += rand(3);
            let slot = rand(200) as u32;
            let mut log = vec![];
            match (live.contains_key(&slot), rand(4)) {
                (false, _) => {
                    let site = rand(6) as u32;
                    let weight = if site == 0 {
                        unweighed += 1;
                        1
                    } else {
                        1 + std::mem::take(&mut unweighed)
                    };
                    log.extend(insert(slot, site));
                    live.insert(slot, (site, now + 500, weight));
                    let c = model.entry(site).or_default();
                    c.inserts += weight;
                    c.live += weight;
                }
                (true, 0) => {
                    log.push(op(slot, TOUCH));
                    live.get_mut(&slot).unwrap().1 = now + 500;
                }
                (true, _) => {
                    log.push(op(slot, REMOVE));
                    let (site, _, weight) = live.remove(&slot).unwrap();
                    let c = model.get_mut(&site).unwrap();
                    c.removes += weight;
                    c.live -= weight;
                }
            }
            for expired in ledger.drain(&log, now).unwrap() {
                let (site, deadline, weight) = live.remove(&expired.slot).unwrap();
                assert!(deadline <= now, "expired early");
                assert_eq!(site, expired.site);
                let c = model.get_mut(&site).unwrap();
                c.expired += weight;
                c.live -= weight;
            }
            assert!(live.values().all(|&(_, d, _)| d > now), "missed expiry");
        }
        for site in ledger.sites() {
            let c = site.counts;
            assert_eq!(c.live, c.inserts - c.removes - c.expired);
            let expected = model.get(&site.site).copied().unwrap_or_default();
            assert_eq!(c, expected, "site {}", site.site);
        }
        assert_eq!(ledger.counts().live as usize, live.len());
    }
}
