//! Deferred maintenance: when a map's operation log fills up, the facade
//! hands the batch over instead of waiting while the ledger applies it, and
//! one background thread applies it (Caffeine's asynchronous maintenance).
//! The JS thread then pays a copy of the log (~32 KB) per few thousand
//! operations instead of the ledger's work on each of them.
//!
//! Readers never see a ledger behind the facade: [`DeferredLedger::lock`]
//! applies whatever is still queued, in order, before it returns. Plain
//! Rust, no napi.

use crate::ledger::{Ledger, LedgerError};
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, LazyLock};

/// Batches queued beyond this are applied by the caller: the maintenance
/// thread is behind (or starved), and the queue's memory stays bounded.
const MAX_QUEUED: usize = 16;

struct Batch {
    words: Vec<i32>,
    now: u64,
}

/// A ledger and the batches handed over for it but not applied yet.
pub struct DeferredLedger {
    ledger: Mutex<Ledger>,
    queue: Mutex<VecDeque<Batch>>,
    /// The first error of a queued batch, kept for the owner's next drain.
    failure: Mutex<Option<LedgerError>>,
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

    /// The first error a queued batch met since the last call, if any.
    pub fn take_failure(&self) -> Option<LedgerError> {
        self.failure.lock().take()
    }

    /// Batches are taken off the queue only under the ledger's lock, so
    /// they are applied in the order they were handed over, whoever applies
    /// them. A failed batch is dropped (as a failed drain is) and remembered.
    fn catch_up(&self, ledger: &mut Ledger) {
        while let Some(batch) = self.pop() {
            if let Err(error) = ledger.apply(&batch.words, batch.now) {
                self.failure.lock().get_or_insert(error);
            }
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

/// Hands `words` (operations up to `now`) over to be applied to `ledger`
/// by the maintenance thread; applies them at once when there is no such
/// thread or it is far behind.
pub fn defer(ledger: &Arc<DeferredLedger>, words: &[i32], now: u64) -> Result<(), LedgerError> {
    let queued = ledger.push(words, now)?;
    let woken = match MAINTAINER.as_ref() {
        // The first batch of an empty queue wakes the thread; later ones
        // find it already on its way.
        Some(thread) if queued <= MAX_QUEUED => queued > 1 || thread.send(ledger.clone()).is_ok(),
        _ => false,
    };
    if !woken {
        drop(ledger.lock());
    }
    Ok(())
}

/// The maintenance thread, started by the first deferred batch. It never
/// keeps the process alive (Node exits without joining it) and holds only
/// ledgers, never JS values. `None` when the thread could not be started.
static MAINTAINER: LazyLock<Option<Sender<Arc<DeferredLedger>>>> = LazyLock::new(|| {
    let (sender, wakeups) = channel::<Arc<DeferredLedger>>();
    std::thread::Builder::new()
        .name("handle-ledger".into())
        .spawn(move || {
            for ledger in wakeups {
                // Ledger errors are values; a panic would be a bug, and must
                // not end the thread that every map relies on.
                let _ = catch_unwind(AssertUnwindSafe(|| drop(ledger.lock())));
            }
        })
        .ok()?;
    Some(sender)
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
    fn a_failed_batch_is_kept_for_the_owner_and_later_batches_still_apply() {
        let ledger = Arc::new(DeferredLedger::new(Ledger::new(0, 0)));
        defer(&ledger, &[word(5, REMOVE)], 1).unwrap(); // slot 5 is not live
        defer(&ledger, &[word(0, INSERT), 0], 2).unwrap();
        assert_eq!(ledger.lock().counts().live, 1);
        assert_eq!(
            ledger.take_failure(),
            Some(LedgerError::NotLive("remove", 5))
        );
        assert_eq!(ledger.take_failure(), None);
    }
}
