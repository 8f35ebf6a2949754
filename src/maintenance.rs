//! Deferred maintenance: when a map's operation log fills up, the facade
//! hands the batch over instead of waiting while the ledger applies it, and
//! one background thread applies it (Caffeine's asynchronous maintenance).
//! The JS thread then pays a copy of the log (~32 KB) per few thousand
//! operations instead of the ledger's work on each of them.
//!
//! Readers never see a ledger behind the facade: [`DeferredLedger::lock`]
//! applies whatever is still queued, in order, before it returns. Plain
//! Rust, no napi.
//!
//! The hand-over of one ledger, as a state machine (Caffeine keeps its drain
//! status the same way). The queue is the state; no flag is kept beside it.
//!
//! ```text
//! IDLE     queue empty (the ledger may still be listed as pending: harmless,
//!          the thread then locks, finds nothing, and moves on)
//!   defer(), queue length becomes 1  -> list the ledger as pending -> PENDING
//! PENDING  queue not empty; the ledger listed for the thread's next look
//!   defer(), length 2..=MAX_QUEUED   -> nothing more: whoever pops the head
//!                                       pops on to the end         -> PENDING
//!   defer(), length > MAX_QUEUED, or no thread
//!                                    -> the caller applies all     -> IDLE
//!   lock() by anyone (the thread, the owner's drain, another thread's
//!   report)                          -> applies all, in order      -> IDLE
//! Any batch that fails while applied (a ledger error, or a panic: a bug)
//!   -> dropped and its failure kept (the first one) until the owner's next
//!      drain takes it and throws; later batches still apply.
//! ```
//!
//! The thread is not woken per batch. Waking a sleeping thread is a system
//! call on the JS thread, and on a virtual machine an interrupt to another
//! CPU: `defer()` took 9-13 us with it and 4-5 us without (median,
//! `node bench/drain.js --only hand-over`), and the hot path 3-6% longer. While batches
//! keep coming the thread looks for them every [`POLL`] instead, and only
//! after [`IDLE_POLLS`] looks that find nothing does it sleep until the next
//! hand-over wakes it.

use crate::guard::guarded;
use crate::ledger::{Ledger, LedgerError, LiveEntry};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Batches queued beyond this are applied by the caller: the maintenance
/// thread is behind (or starved), and the queue's memory stays bounded.
const MAX_QUEUED: usize = 16;

/// How often the maintenance thread looks for batches while they come: a
/// map at full speed fills a log in about 0.4 ms, so a look finds a few.
const POLL: Duration = Duration::from_millis(1);

/// Looks that find nothing before the thread sleeps until woken.
const IDLE_POLLS: u32 = 64;

struct Batch {
    words: Vec<i32>,
    now: u64,
}

/// Why a handed-over batch was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The ledger refused it (a corrupt or out-of-sync log).
    Refused(LedgerError),
    /// Applying it panicked: a bug. The text carries the native backtrace.
    Panicked(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(error) => error.fmt(f),
            Failure::Panicked(text) => f.write_str(text),
        }
    }
}

/// A batch stamped with this time panics when applied: how tests check that
/// a panic on the maintenance thread reaches the owner (no real clock reads
/// 2^64 - 1 ms; the binding refuses clocks beyond 2^52).
#[cfg(any(test, feature = "testing"))]
pub const PANIC_FOR_TESTING: u64 = u64::MAX;

/// A ledger and the batches handed over for it but not applied yet.
pub struct DeferredLedger {
    ledger: Mutex<Ledger>,
    queue: Mutex<VecDeque<Batch>>,
    /// The first failure of a queued batch, kept for the owner's next drain.
    failure: Mutex<Option<Failure>>,
}

impl DeferredLedger {
    pub fn new(ledger: Ledger) -> Self {
        DeferredLedger {
            ledger: Mutex::new(ledger),
            queue: Mutex::new(VecDeque::new()),
            failure: Mutex::new(None),
        }
    }

    /// The ledger, with every batch queued so far applied.
    pub fn lock(&self) -> MutexGuard<'_, Ledger> {
        let mut ledger = self.ledger.lock();
        self.catch_up(&mut ledger);
        ledger
    }

    /// Rebuilds the ledger from the facade's state (`Ledger::rebuild`), after
    /// applying what is queued; a failure kept from those batches is
    /// superseded and dropped.
    pub fn rebuild(
        &self,
        live: &[LiveEntry],
        last_serial: u32,
        now: u64,
    ) -> Result<(), LedgerError> {
        let mut ledger = self.lock();
        self.failure.lock().take();
        ledger.rebuild(live, last_serial, now)
    }

    /// The first failure a queued batch met since the last call, if any.
    pub fn take_failure(&self) -> Option<Failure> {
        self.failure.lock().take()
    }

    /// Batches are taken off the queue only under the ledger's lock, so
    /// they are applied in the order they were handed over, whoever applies
    /// them. A failed batch is dropped (as a failed drain is) and remembered,
    /// a panic included: on the maintenance thread nobody else would hear of
    /// it, and on a reader's thread it is the owner's failure, not the
    /// reader's.
    fn catch_up(&self, ledger: &mut Ledger) {
        while let Some(batch) = self.pop() {
            let failure = match guarded(|| Ok(apply(ledger, &batch))) {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => Failure::Refused(error),
                Err(panic) => Failure::Panicked(panic),
            };
            self.failure.lock().get_or_insert(failure);
        }
    }

    fn pop(&self) -> Option<Batch> {
        self.queue.lock().pop_front()
    }

    /// Queues a copy of `words`; returns how many batches are queued now.
    fn push(&self, words: &[i32], now: u64) -> Result<usize, LedgerError> {
        let mut copy = Vec::new();
        copy.try_reserve_exact(words.len())
            .map_err(|_| LedgerError::OutOfMemory)?;
        copy.extend_from_slice(words);
        let mut queue = self.queue.lock();
        queue.push_back(Batch { words: copy, now });
        Ok(queue.len())
    }
}

fn apply(ledger: &mut Ledger, batch: &Batch) -> Result<(), LedgerError> {
    #[cfg(any(test, feature = "testing"))]
    if batch.now == PANIC_FOR_TESTING {
        panic!("deliberate panic while applying a handed-over batch");
    }
    ledger.apply(&batch.words, batch.now)
}

/// Hands `words` (operations up to `now`) over to be applied to `ledger`
/// by the maintenance thread; applies them at once when there is no such
/// thread or it is far behind.
pub fn defer(ledger: &Arc<DeferredLedger>, words: &[i32], now: u64) -> Result<(), LedgerError> {
    let queued = ledger.push(words, now)?;
    let handed_over = match MAINTAINER.as_ref() {
        // The first batch of an empty queue lists the ledger; later ones
        // find it listed.
        Some(maintainer) if queued <= MAX_QUEUED => {
            if queued == 1 {
                maintainer.list(ledger);
            }
            true
        }
        _ => false,
    };
    if !handed_over {
        drop(ledger.lock());
    }
    Ok(())
}

/// The maintenance thread's side: the ledgers it is to catch up.
struct Maintainer {
    pending: Mutex<Pending>,
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    ledgers: Vec<Arc<DeferredLedger>>,
    /// The thread sleeps until a ledger is listed (and is woken by it).
    asleep: bool,
}

impl Maintainer {
    fn list(&self, ledger: &Arc<DeferredLedger>) {
        let mut pending = self.pending.lock();
        pending.ledgers.push(ledger.clone());
        if pending.asleep {
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        let mut idle_polls = 0;
        loop {
            let listed = std::mem::take(&mut self.pending.lock().ledgers);
            if !listed.is_empty() {
                idle_polls = 0;
                // A failing batch (a panic included) is caught in
                // `catch_up` and kept for its owner: the loop goes on.
                for ledger in listed {
                    drop(ledger.lock());
                }
            } else if idle_polls < IDLE_POLLS {
                idle_polls += 1;
            } else {
                self.sleep_until_listed();
                idle_polls = 0;
                continue;
            }
            std::thread::sleep(POLL);
        }
    }

    fn sleep_until_listed(&self) {
        let mut pending = self.pending.lock();
        pending.asleep = true;
        while pending.ledgers.is_empty() {
            self.wake.wait(&mut pending);
        }
        pending.asleep = false;
    }
}

/// The maintenance thread, started by the first deferred batch. It never
/// keeps the process alive (Node exits without joining it) and holds only
/// ledgers, never JS values. `None` when the thread could not be started.
static MAINTAINER: LazyLock<Option<Arc<Maintainer>>> = LazyLock::new(|| {
    let maintainer = Arc::new(Maintainer {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
    });
    let thread_side = maintainer.clone();
    std::thread::Builder::new()
        .name("handle-ledger".into())
        .spawn(move || thread_side.run())
        .ok()?;
    Some(maintainer)
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oplog::{INSERT, REMOVE};
    use std::time::{Duration, Instant};

    fn word(slot: u32, code: u32) -> i32 {
        (slot << 3 | code) as i32
    }

    #[test]
    fn a_reader_sees_every_batch_handed_over_in_order() {
        let ledger = Arc::new(DeferredLedger::new(Ledger::new(0, 0)));
        // Slot 0 goes in and out 100 times: any reordering would remove a
        // free slot or insert a live one, which the ledger refuses.
        for _ in 0..100 {
            defer(&ledger, &[word(0, INSERT), 0], 1).unwrap();
            defer(&ledger, &[word(0, REMOVE)], 2).unwrap();
        }
        defer(&ledger, &[word(0, INSERT), 0, word(1, INSERT), 0], 3).unwrap();
        let counts = ledger.lock().counts();
        assert_eq!((counts.live, counts.inserts, counts.removes), (2, 102, 100));
        assert!(ledger.take_failure().is_none());
    }

    #[test]
    fn the_maintenance_thread_applies_batches_without_a_reader() {
        let ledger = Arc::new(DeferredLedger::new(Ledger::new(0, 0)));
        defer(&ledger, &[word(0, INSERT), 0], 1).unwrap();
        // Look without catching up: only the maintenance thread can apply it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while ledger.ledger.lock().counts().inserts == 0 {
            assert!(Instant::now() < deadline, "the batch was never applied");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(ledger.queue.lock().len(), 0);
    }

    #[test]
    fn a_sleeping_maintenance_thread_is_woken_by_the_next_batch() {
        let maintainer = MAINTAINER.as_ref().expect("the maintenance thread started");
        // With nothing listed it looks IDLE_POLLS times, then sleeps.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !maintainer.pending.lock().asleep {
            assert!(Instant::now() < deadline, "the thread never went to sleep");
            std::thread::sleep(Duration::from_millis(1));
        }
        let ledger = Arc::new(DeferredLedger::new(Ledger::new(0, 0)));
        defer(&ledger, &[word(0, INSERT), 0], 1).unwrap();
        wait_until_applied_by_the_thread(&ledger);
        assert_eq!(ledger.ledger.lock().counts().inserts, 1);
    }

    #[test]
    fn a_failed_batch_is_kept_for_the_owner_and_later_batches_still_apply() {
        let ledger = Arc::new(DeferredLedger::new(Ledger::new(0, 0)));
        defer(&ledger, &[word(5, REMOVE)], 1).unwrap(); // slot 5 is not live
        defer(&ledger, &[word(0, INSERT), 0], 2).unwrap();
        assert_eq!(ledger.lock().counts().live, 1);
        assert_eq!(
            ledger.take_failure(),
            Some(Failure::Refused(LedgerError::NotLive("remove", 5)))
        );
        assert_eq!(ledger.take_failure(), None);
    }

    #[test]
    fn a_panic_on_the_maintenance_thread_is_the_owners_failure_and_the_thread_goes_on() {
        let ledger = Arc::new(DeferredLedger::new(Ledger::new(0, 0)));
        defer(&ledger, &[word(0, INSERT), 0], PANIC_FOR_TESTING).unwrap();
        wait_until_applied_by_the_thread(&ledger);
        match ledger.take_failure() {
            Some(Failure::Panicked(text)) => {
                assert!(text.contains("deliberate panic"), "{text}");
                assert!(text.contains("native backtrace"), "{text}");
            }
            other => panic!("expected the panic to be kept, got {other:?}"),
        }
        assert_eq!(
            ledger.ledger.lock().counts().inserts,
            0,
            "the batch is dropped"
        );
        // The thread survived: it still applies the next batch by itself.
        defer(&ledger, &[word(0, INSERT), 0], 1).unwrap();
        wait_until_applied_by_the_thread(&ledger);
        assert_eq!(ledger.ledger.lock().counts().inserts, 1);
        assert_eq!(ledger.take_failure(), None);
    }

    #[test]
    fn a_rebuild_applies_what_is_queued_first_and_drops_a_kept_failure() {
        let ledger = Arc::new(DeferredLedger::new(Ledger::new(0, 0)));
        defer(&ledger, &[word(5, REMOVE)], 1).unwrap(); // refused: kept
        defer(&ledger, &[word(0, INSERT), 0, word(1, INSERT), 0], 2).unwrap();
        let live = [LiveEntry {
            slot: 1,
            site: 0,
            serial: 2,
        }];
        ledger.rebuild(&live, 2, 3).unwrap();
        let counts = ledger.lock().counts();
        assert_eq!(
            (counts.live, counts.inserts),
            (1, 2),
            "the queued inserts counted, then the map's one entry"
        );
        assert_eq!(ledger.take_failure(), None, "superseded by the rebuild");
    }

    /// Waits, without catching up itself, until the queue is empty.
    fn wait_until_applied_by_the_thread(ledger: &DeferredLedger) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Under the ledger's lock: the thread pops and applies under it.
            let guard = ledger.ledger.lock();
            if ledger.queue.lock().is_empty() {
                return;
            }
            drop(guard);
            assert!(Instant::now() < deadline, "the batch was never applied");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
