//! The process-wide registry of live maps. Every thread (the main thread and
//! each worker) loads the same addon, so one registry sees every map of the
//! process; each map's ledger sits behind its own lock, so a report taken on
//! one thread never waits on another thread's registry traffic.

use crate::ledger::Ledger;
use crate::maintenance::DeferredLedger;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSites {
    Off,
    Sampled,
    All,
}

impl CallSites {
    pub fn name(self) -> &'static str {
        match self {
            CallSites::Off => "off",
            CallSites::Sampled => "sampled",
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
}
