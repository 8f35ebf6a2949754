//! The process-wide registry of live maps. Every thread (the main thread and
//! each worker) loads the same addon, so one registry sees every map of the
//! process; each map's ledger sits behind its own lock, so a report taken on
//! one thread never waits on another thread's registry traffic.

use crate::ledger::Ledger;
use crate::maintenance::DeferredLedger;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

/// Distinct names whose closed maps' totals are kept. A process that names
/// a map per request would otherwise grow this list forever; past the cap,
/// closed maps of new names are summed under [`OVERFLOW_NAME`].
pub const MAX_RETIRED_NAMES: usize = 10_000;
pub const OVERFLOW_NAME: &str = "(closed maps beyond the name limit)";

/// How a map records the sites of its inserts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSites {
    /// Counts only.
    Off,
    /// One insert in `sample_rate`, at random gaps.
    Sampled,
    /// Every insert while capturing stays within the map's CPU budget, then
    /// random gaps sized to the budget (decided by the facade).
    Auto,
    /// Every insert.
    All,
}

impl CallSites {
    pub fn name(self) -> &'static str {
        match self {
            CallSites::Off => "off",
            CallSites::Sampled => "sampled",
            CallSites::Auto => "auto",
            CallSites::All => "all",
        }
    }
}

/// What a registered map is, besides its figures.
#[derive(Clone, Debug)]
pub struct MapInfo {
    pub name: String,
    /// `worker_threads.threadId` of the thread that owns the map (0 = main).
    pub thread_id: u32,
    pub call_sites: CallSites,
    /// The fixed rate of `'sampled'`; 1 otherwise (in `'auto'` the rate
    /// follows the budget and the report says `estimated` once it drops).
    pub sample_rate: u32,
    /// How often the owner drains its operation log: the most a figure read
    /// from another thread can lag.
    pub flush_interval_ms: u32,
    /// Set when the map has the default clock, so another thread can age
    /// its entries at the owner's time now; `None` for a custom clock (ages
    /// are then as of the owner's last drain).
    pub clock_anchor: Option<ClockAnchor>,
}

/// The owner's default clock (JS `performance.timeOrigin + performance.now()`,
/// monotonic) read once, with the `Instant` then. Both clocks are monotonic
/// and run at one rate, so any thread tells the owner's clock now from it,
/// whatever the wall clock or the reading thread's own time origin did since.
#[derive(Clone, Copy, Debug)]
pub struct ClockAnchor {
    ms: u64,
    at: Instant,
}

impl ClockAnchor {
    /// `ms`: the owner's clock, read just before this call.
    pub fn new(ms: u64) -> Self {
        ClockAnchor {
            ms,
            at: Instant::now(),
        }
    }

    /// The owner's clock now (never ahead of it: the `Instant` was taken
    /// after the owner read its clock).
    pub fn now_ms(&self) -> u64 {
        self.ms
            .saturating_add(u64::try_from(self.at.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}

pub struct MapEntry {
    pub id: u64,
    pub info: MapInfo,
    /// Behind its own lock; batches the owner handed over are applied
    /// before any reader sees it.
    pub ledger: Arc<DeferredLedger>,
    /// The OS thread (and so JS environment) that owns the map.
    owner: std::thread::ThreadId,
}

/// The lifetime counters of every map sharing a name: the live maps' and
/// the closed (or collected) ones', so a counter read by name never goes
/// down when one of its maps leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameTotals {
    pub name: String,
    pub inserts: u64,
    pub removes: u64,
    pub expired: u64,
    /// Maps of this name still registered.
    pub live_maps: u32,
    /// Maps of this name that left the registry.
    pub closed_maps: u64,
}

impl NameTotals {
    fn add(&mut self, inserts: u64, removes: u64, expired: u64) {
        self.inserts += inserts;
        self.removes += removes;
        self.expired += expired;
    }
}

/// The live maps by id, so a map leaves in O(1) (a close or a GC finalizer
/// holds the registry lock: it must not walk every other map). Ids grow with
/// registration, so sorting by id gives registration order back.
#[derive(Default)]
struct Registry {
    maps: HashMap<u64, Arc<MapEntry>>,
    /// Totals of the maps that left, by name.
    retired: HashMap<String, NameTotals>,
    /// Entries looked at by removals: the test of O(1) closing counts work, not time.
    #[cfg(test)]
    examined: std::cell::Cell<usize>,
}

impl Registry {
    fn add(&mut self, entry: Arc<MapEntry>) {
        self.maps.insert(entry.id, entry);
    }

    /// Takes map `id` out (nothing if it already left: `close()` and then
    /// the finalizer both call this).
    fn remove(&mut self, id: u64) {
        if let Some(entry) = self.maps.remove(&id) {
            #[cfg(test)]
            self.examined.set(self.examined.get() + 1);
            self.retire(&entry);
        }
    }

    /// Takes out every map `owner` owns: once per thread exit, so a walk.
    fn remove_owned_by(&mut self, owner: std::thread::ThreadId) {
        let leaving: Vec<u64> = self
            .maps
            .values()
            .filter(|entry| entry.owner == owner)
            .map(|entry| entry.id)
            .collect();
        for id in leaving {
            self.remove(id);
        }
    }

    /// Moves `entry`'s counters into the retired totals. Runs under the
    /// registry lock, so a reader sees a map either registered or retired,
    /// never both nor neither.
    fn retire(&mut self, entry: &MapEntry) {
        let counts = entry.ledger.lock().counts();
        let name = if self.retired.len() < MAX_RETIRED_NAMES
            || self.retired.contains_key(&entry.info.name)
        {
            entry.info.name.as_str()
        } else {
            OVERFLOW_NAME
        };
        let totals = self
            .retired
            .entry(name.to_owned())
            .or_insert_with(|| NameTotals {
                name: name.to_owned(),
                ..NameTotals::default()
            });
        totals.add(counts.inserts, counts.removes, counts.expired);
        totals.closed_maps += 1;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.maps.len()
    }
}

/// `maps` in registration order (sorted outside the registry lock).
fn in_registration_order(mut maps: Vec<Arc<MapEntry>>) -> Vec<Arc<MapEntry>> {
    maps.sort_unstable_by_key(|entry| entry.id);
    maps
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| Mutex::new(Registry::default()));

pub fn register(info: MapInfo, ledger: Ledger) -> Arc<MapEntry> {
    let entry = Arc::new(MapEntry {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        info,
        ledger: Arc::new(DeferredLedger::new(ledger)),
        owner: std::thread::current().id(),
    });
    REGISTRY.lock().add(entry.clone());
    entry
}

pub fn unregister(id: u64) {
    REGISTRY.lock().remove(id);
}

/// Forgets every map owned by the calling thread (its JS environment is going away).
pub fn unregister_current_thread() {
    let owner = std::thread::current().id();
    REGISTRY.lock().remove_owned_by(owner);
}

/// The registered maps, in registration order. The list is copied so callers
/// lock each ledger without holding the registry.
pub fn maps() -> Vec<Arc<MapEntry>> {
    let copied: Vec<_> = REGISTRY.lock().maps.values().cloned().collect();
    in_registration_order(copied)
}

/// Lifetime counters by map name (`only`: one name), live and closed maps
/// summed, sorted by name. Read under the registry lock (each ledger locked
/// in turn, briefly) so a map that closes meanwhile is counted exactly once:
/// the totals of a name never decrease from one call to the next.
pub fn totals_by_name(only: Option<&str>) -> Vec<NameTotals> {
    let registry = REGISTRY.lock();
    let wanted = |name: &str| only.is_none_or(|only| only == name);
    let mut by_name: HashMap<&str, NameTotals> = registry
        .retired
        .iter()
        .filter(|(name, _)| wanted(name))
        .map(|(name, totals)| (name.as_str(), totals.clone()))
        .collect();
    for entry in registry.maps.values().filter(|e| wanted(&e.info.name)) {
        let counts = entry.ledger.lock().counts();
        let totals = by_name
            .entry(entry.info.name.as_str())
            .or_insert_with(|| NameTotals {
                name: entry.info.name.clone(),
                ..NameTotals::default()
            });
        totals.add(counts.inserts, counts.removes, counts.expired);
        totals.live_maps += 1;
    }
    let mut totals: Vec<NameTotals> = by_name.into_values().collect();
    totals.sort_by(|a, b| a.name.cmp(&b.name));
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_has_the_name_the_facade_passes() {
        let names: Vec<_> = [
            CallSites::Off,
            CallSites::Sampled,
            CallSites::Auto,
            CallSites::All,
        ]
        .into_iter()
        .map(CallSites::name)
        .collect();
        assert_eq!(names, ["off", "sampled", "auto", "all"]);
    }

    fn info(name: &str) -> MapInfo {
        MapInfo {
            name: name.into(),
            thread_id: 0,
            call_sites: CallSites::All,
            sample_rate: 1,
            flush_interval_ms: 1000,
            clock_anchor: Some(ClockAnchor::new(0)),
        }
    }

    #[test]
    fn maps_register_and_leave_per_id_and_per_thread() {
        let a = register(info("registry-test-a"), Ledger::new(0, 0));
        let mine = |name: &str| maps().iter().any(|m| m.info.name == name);
        assert!(mine("registry-test-a"));
        let from_other_thread = std::thread::spawn(|| {
            let b = register(info("registry-test-b"), Ledger::new(0, 0));
            assert!(maps().iter().any(|m| m.id == b.id));
            unregister_current_thread();
            b.id
        })
        .join()
        .unwrap();
        assert!(!maps().iter().any(|m| m.id == from_other_thread));
        assert!(mine("registry-test-a"));
        unregister(a.id);
        assert!(!mine("registry-test-a"));
    }

    fn insert_and_remove(entry: &MapEntry, inserts: u32, removes: u32) {
        // INSERT is op code 1, REMOVE 2 (src/oplog.rs): slot << 3 | code, then the site.
        let mut words = Vec::new();
        for slot in 0..inserts as i32 {
            words.extend([slot << 3 | 1, 0]);
        }
        for slot in 0..removes as i32 {
            words.push(slot << 3 | 2);
        }
        entry.ledger.lock().apply(&words, 1).unwrap();
    }

    fn totals_of(name: &str) -> NameTotals {
        let found = totals_by_name(Some(name));
        assert_eq!(found.len(), 1, "one totals row for {name}");
        found[0].clone()
    }

    #[test]
    fn closed_maps_keep_counting_under_their_name() {
        let name = "registry-test-retired";
        let first = register(info(name), Ledger::new(0, 0));
        let second = register(info(name), Ledger::new(0, 0));
        insert_and_remove(&first, 100, 0);
        insert_and_remove(&second, 40, 10);
        let before = totals_of(name);
        assert_eq!(
            (before.inserts, before.removes, before.live_maps),
            (140, 10, 2)
        );
        unregister(first.id);
        let after = totals_of(name);
        assert_eq!((after.inserts, after.removes), (140, 10));
        assert_eq!((after.live_maps, after.closed_maps), (1, 1));
        let worker = std::thread::spawn(move || {
            let third = register(info(name), Ledger::new(0, 0));
            insert_and_remove(&third, 5, 5);
            unregister_current_thread();
        });
        worker.join().unwrap();
        let last = totals_of(name);
        assert_eq!((last.inserts, last.removes, last.closed_maps), (145, 15, 2));
        unregister(second.id);
        assert_eq!(totals_of(name).inserts, 145);
        assert!(totals_by_name(Some("registry-test-no-such-name")).is_empty());
    }

    fn unregistered_entry(name: &str) -> Arc<MapEntry> {
        Arc::new(MapEntry {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            info: info(name),
            ledger: Arc::new(DeferredLedger::new(Ledger::new(0, 0))),
            owner: std::thread::current().id(),
        })
    }

    // Closing a map (or its finalizer) holds the registry lock: it must not
    // walk the other maps. A count of entries looked at, not a timing.
    #[test]
    fn closing_a_map_looks_at_that_map_only() {
        let mut registry = Registry::default();
        let entries: Vec<_> = (0..10_000)
            .map(|_| unregistered_entry("registry-test-close"))
            .collect();
        for entry in &entries {
            registry.add(entry.clone());
        }
        for entry in entries.iter().step_by(97) {
            registry.examined.set(0);
            registry.remove(entry.id);
            assert_eq!(
                registry.examined.get(),
                1,
                "entries looked at to close one map of {}",
                registry.len()
            );
        }
        let listed = in_registration_order(registry.maps.values().cloned().collect());
        let left: Vec<u64> = listed.iter().map(|e| e.id).collect();
        let expected: Vec<u64> = entries
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 97 != 0)
            .map(|(_, e)| e.id)
            .collect();
        assert_eq!(left, expected, "the maps left, in registration order");
        assert_eq!(
            registry.retired["registry-test-close"].closed_maps,
            entries.len().div_ceil(97) as u64
        );
    }
}
