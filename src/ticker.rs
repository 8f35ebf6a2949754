//! A coarse millisecond clock that one background thread keeps in memory the
//! JavaScript side reads (Linux's `CLOCK_MONOTONIC_COARSE`, Cassandra's
//! `ApproximateTime`): every map operation can then carry a time stamp for
//! the cost of one typed-array load, where a clock call costs ~40 ns, a third
//! of a whole `Map` operation. Plain Rust, no napi: the binding wraps each
//! [`ClockCell`] in an external `Float64Array`.
//!
//! A cell is two `f64`s. Word 0 is the time in ms since the ticker's origin,
//! rounded up and one tick ahead, so a stamp taken from it is never before
//! the operation it stamps while the thread keeps up; 0 means the ticker is
//! parked. Word 1 is set by JavaScript whenever it used a new value, so the
//! thread knows someone is reading: after [`IDLE_TICKS`] ticks with no reader
//! it parks (writing 0), and the first reader after that wakes it through
//! [`Ticker::wake`], which returns the exact time. An idle process pays
//! nothing; a busy one pays a wake-up per millisecond on another core.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// How often the thread writes the time.
pub const TICK: Duration = Duration::from_millis(1);
/// Ticks without a reader before the thread parks.
const IDLE_TICKS: u32 = 200;

/// One thread's view of the clock: `[ms, seen]` as two `f64` bit patterns.
#[repr(C)]
#[derive(Default)]
pub struct ClockCell {
    ms: AtomicU64,
    seen: AtomicU64,
}

impl ClockCell {
    /// The time the cell shows (0: parked).
    #[cfg(test)]
    pub fn ms(&self) -> f64 {
        f64::from_bits(self.ms.load(Ordering::Relaxed))
    }

    fn show(&self, ms: f64) {
        self.ms.store(ms.to_bits(), Ordering::Relaxed);
    }

    /// Was a new value used since the last look? Clears the mark.
    fn take_seen(&self) -> bool {
        self.seen.swap(0, Ordering::Relaxed) != 0
    }

    /// What JavaScript does when it uses a value (for tests).
    #[cfg(test)]
    fn mark_seen(&self) {
        self.seen.store(1f64.to_bits(), Ordering::Relaxed);
    }
}

struct State {
    cells: Vec<Arc<ClockCell>>,
    parked: bool,
    started: bool,
}

pub struct Ticker {
    origin: Instant,
    state: Mutex<State>,
    wakeup: Condvar,
}

/// The process's ticker (one thread, started with the first cell); the
/// binding's, so unused in `cargo test` builds, which leave the binding out.
#[cfg_attr(test, allow(dead_code))]
pub static TICKER: LazyLock<Ticker> = LazyLock::new(Ticker::new);

impl Ticker {
    fn new() -> Self {
        Ticker {
            origin: Instant::now(),
            state: Mutex::new(State {
                cells: Vec::new(),
                parked: true,
                started: false,
            }),
            wakeup: Condvar::new(),
        }
    }

    /// The exact time in ms since the ticker's origin.
    pub fn now_ms(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * 1000.0
    }

    /// What a cell shows at `now`: rounded up, one tick ahead (so never 0,
    /// the parked mark).
    fn shown(now: f64) -> f64 {
        (now + TICK.as_secs_f64() * 1000.0).ceil()
    }

    /// A new cell, kept current until [`Ticker::release`]; starts the thread.
    pub fn cell(&'static self) -> Arc<ClockCell> {
        let cell = Arc::new(ClockCell::default());
        let mut state = self.state.lock();
        state.cells.push(cell.clone());
        if !state.started {
            state.started = self.spawn();
        }
        self.resume(&mut state);
        cell
    }

    /// Stops updating `cell` (its thread is gone).
    pub fn release(&self, cell: &Arc<ClockCell>) {
        self.state.lock().cells.retain(|c| !Arc::ptr_eq(c, cell));
    }

    /// Called by a reader that found the clock parked: resumes ticking and
    /// returns the exact time.
    pub fn wake(&self) -> f64 {
        let mut state = self.state.lock();
        self.resume(&mut state);
        self.now_ms()
    }

    fn resume(&self, state: &mut State) {
        let shown = Self::shown(self.now_ms());
        for cell in &state.cells {
            cell.show(shown);
        }
        if state.parked {
            state.parked = false;
            self.wakeup.notify_one();
        }
    }

    /// One tick: shows the time in every cell; parks after a long idle spell.
    /// Returns whether the thread should park now.
    fn tick(&self, idle: &mut u32) -> bool {
        let mut state = self.state.lock();
        let shown = Self::shown(self.now_ms());
        let mut seen = false;
        for cell in &state.cells {
            seen |= cell.take_seen();
            cell.show(shown);
        }
        *idle = if seen { 0 } else { *idle + 1 };
        if *idle < IDLE_TICKS {
            return false;
        }
        for cell in &state.cells {
            cell.show(0.0);
        }
        state.parked = true;
        true
    }

    fn wait_while_parked(&self) {
        let mut state = self.state.lock();
        while state.parked {
            self.wakeup.wait(&mut state);
        }
    }

    /// Starts the thread; false when it could not be (cells then show 0,
    /// and every reader asks [`Ticker::wake`] for the exact time).
    fn spawn(&'static self) -> bool {
        std::thread::Builder::new()
            .name("handle-ledger-clock".into())
            .spawn(move || self.run())
            .is_ok()
    }

    fn run(&self) {
        let mut idle = 0;
        loop {
            std::thread::sleep(TICK);
            if self.tick(&mut idle) {
                self.wait_while_parked();
                idle = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaked() -> &'static Ticker {
        Box::leak(Box::new(Ticker::new()))
    }

    #[test]
    fn a_cell_shows_a_time_a_tick_ahead_and_follows_the_clock() {
        let ticker = leaked();
        let cell = ticker.cell();
        let before = ticker.now_ms();
        let shown = cell.ms();
        assert!(
            shown >= before && shown <= ticker.now_ms() + 2.0,
            "{before} {shown}"
        );
        // The thread moves it on (polled: a loaded machine may not run it
        // for a while), and a reader keeps it going.
        let deadline = Instant::now() + Duration::from_secs(30);
        while cell.ms() <= shown {
            assert!(
                Instant::now() < deadline,
                "the thread never moved the clock on"
            );
            cell.mark_seen();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(cell.ms() >= shown + 1.0);
    }

    #[test]
    fn with_no_reader_it_parks_and_a_reader_wakes_it() {
        let ticker = leaked();
        let cell = ticker.cell();
        let mut idle = 0;
        while !ticker.tick(&mut idle) {}
        assert_eq!(cell.ms(), 0.0, "parked");
        let now = ticker.wake();
        assert!(cell.ms() >= now, "a wake shows the time at once");
        assert!(!ticker.state.lock().parked);
    }

    #[test]
    fn a_reader_keeps_it_ticking_and_a_released_cell_is_left_alone() {
        let ticker = leaked();
        let cell = ticker.cell();
        let mut idle = 0;
        for _ in 0..IDLE_TICKS * 2 {
            cell.mark_seen();
            assert!(!ticker.tick(&mut idle));
        }
        ticker.release(&cell);
        let frozen = cell.ms();
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(cell.ms(), frozen);
    }
}
