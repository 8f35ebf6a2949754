//! The process-wide registry of live maps. Every thread (the main thread and
//! each worker) loads the same addon, so one registry sees every map of the
//! process; each map's ledger sits behind its own lock, so a report taken on
//! one thread never waits on another thread's registry traffic.

use crate::ledger::Ledger;
use crate::maintenance::DeferredLedger;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

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
    /// True when the map's clock is the wall clock (`Date.now`), so another
    /// thread can age its entries with its own clock.
    pub wall_clock: bool,
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

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static MAPS: LazyLock<Mutex<Vec<Arc<MapEntry>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

pub fn register(info: MapInfo, ledger: Ledger) -> Arc<MapEntry> {
    let entry = Arc::new(MapEntry {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        info,
        ledger: Arc::new(DeferredLedger::new(ledger)),
        owner: std::thread::current().id(),
    });
    MAPS.lock().push(entry.clone());
    entry
}

pub fn unregister(id: u64) {
    MAPS.lock().retain(|entry| entry.id != id);
}

/// Forgets every map owned by the calling thread (its JS environment is going away).
pub fn unregister_current_thread() {
    let owner = std::thread::current().id();
    MAPS.lock().retain(|entry| entry.owner != owner);
}

/// The registered maps, in registration order. The list is copied so callers
/// lock each ledger without holding the registry.
pub fn maps() -> Vec<Arc<MapEntry>> {
    MAPS.lock().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> MapInfo {
        MapInfo {
            name: name.into(),
            thread_id: 0,
            call_sites: CallSites::All,
            sample_rate: 1,
            flush_interval_ms: 1000,
            wall_clock: true,
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
}
