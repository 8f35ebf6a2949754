//! The napi binding: the only module that knows about JavaScript. Each entry
//! point converts arguments, takes one lock, calls into plain Rust, and runs
//! inside [`guarded`] so a panic reaches JS as an exception, not an abort.
//!
//! None of these is on the per-operation path: the facade calls `drain` once
//! per few thousand operations or per tick (see ARCHITECTURE.md).

use crate::guard::guarded;
use crate::interner::Interner;
use crate::ledger::{Ledger, LiveEntry};
use crate::maintenance;
use crate::oplog;
use crate::registry::{self, CallSites, ClockAnchor, MapEntry, MapInfo};
use crate::report;
use crate::ticker::TICKER;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use parking_lot::Mutex;
use std::cell::Cell;
use std::sync::{Arc, LazyLock};

static INTERNER: LazyLock<Mutex<Interner>> = LazyLock::new(|| Mutex::new(Interner::default()));

thread_local! {
    static CLEANUP_HOOKED: Cell<bool> = const { Cell::new(false) };
}

fn run<T>(f: impl FnOnce() -> std::result::Result<T, String>) -> Result<T> {
    guarded(f).map_err(Error::from_reason)
}

/// Clock values beyond 2^52 ms (year 142,000) are a caller's bug.
const MAX_CLOCK_MS: f64 = 4_503_599_627_370_496.0;

fn log_words(log: &[i32], len: u32) -> std::result::Result<&[i32], String> {
    log.get(..len as usize)
        .ok_or_else(|| format!("log length {len} exceeds its buffer ({})", log.len()))
}

fn out_of_sync(error: impl std::fmt::Display) -> String {
    format!("handle-ledger ledger out of sync: {error}")
}

/// A clock reading in whole ms, rounded down: for "is it due yet" and ages,
/// so nothing expires early.
fn clock_ms(now: f64) -> std::result::Result<u64, String> {
    if (0.0..=MAX_CLOCK_MS).contains(&now) {
        Ok(now as u64)
    } else {
        Err(format!("clock returned {now}: expected ms from 0 to 2^52"))
    }
}

/// A clock reading in whole ms, rounded up: the stamp of operations that
/// happened by then, so a deadline is never before the true one.
fn stamp_ms(now: f64) -> std::result::Result<u64, String> {
    clock_ms(now).map(|ms| if (ms as f64) < now { ms + 1 } else { ms })
}

/// `callSites` as JS passes it (validated by the facade; any other string is
/// a conversion error naming the enum).
#[napi(string_enum = "lowercase")]
pub enum CallSitesMode {
    Off,
    Sampled,
    Auto,
    All,
}

impl From<CallSitesMode> for CallSites {
    fn from(mode: CallSitesMode) -> Self {
        match mode {
            CallSitesMode::Off => CallSites::Off,
            CallSitesMode::Sampled => CallSites::Sampled,
            CallSitesMode::Auto => CallSites::Auto,
            CallSitesMode::All => CallSites::All,
        }
    }
}

/// What a new ledger is told about its map (validated by the facade).
#[napi(object)]
pub struct LedgerOptions {
    pub name: String,
    pub ttl_ms: f64,
    pub call_sites: CallSitesMode,
    pub sample_rate: u32,
    /// `worker_threads.threadId` of the owning thread.
    pub thread_id: u32,
    pub flush_interval_ms: u32,
    /// True when the map has the default (monotonic) clock, not a custom
    /// one: reports read from other threads then age its entries at the
    /// owner's time now.
    pub default_clock: bool,
    /// The map's clock at creation, in ms.
    pub now: f64,
}

/// A map's ledger, owned by the JS `HandleMap` that created it. Dropping it
/// (GC of the map, or `close()`) takes the map out of the registry.
#[napi]
pub struct NativeLedger {
    entry: Arc<MapEntry>,
}

#[napi]
impl NativeLedger {
    #[napi(constructor)]
    pub fn new(env: Env, options: LedgerOptions) -> Result<Self> {
        hook_thread_cleanup(&env)?;
        run(|| {
            let ttl_ms = if options.ttl_ms.is_finite() && options.ttl_ms >= 0.0 {
                options.ttl_ms.ceil() as u64
            } else {
                return Err(format!(
                    "ttl {} is not a finite number >= 0",
                    options.ttl_ms
                ));
            };
            let now = clock_ms(options.now)?;
            let info = MapInfo {
                name: options.name,
                thread_id: options.thread_id,
                call_sites: options.call_sites.into(),
                sample_rate: options.sample_rate.max(1),
                flush_interval_ms: options.flush_interval_ms,
                clock_anchor: options.default_clock.then(|| ClockAnchor::new(now)),
            };
            let entry = registry::register(info, Ledger::new(ttl_ms, now));
            Ok(NativeLedger { entry })
        })
    }

    /// Applies `log[0..len]` (after any batch handed over by `defer`),
    /// records which slot is the map's oldest and, when `expire` is set,
    /// expires what is due at `now`. Returns the expired entries as flat
    /// `[slot, site, ageMs, serial, ...]` quadruples, or `null` for none.
    #[napi]
    pub fn drain(
        &self,
        log: &[i32],
        len: u32,
        now: f64,
        oldest_slot: i32,
        expire: bool,
    ) -> Result<Option<Float64Array>> {
        run(|| {
            let words = log_words(log, len)?;
            let stamp = stamp_ms(now)?;
            let now = clock_ms(now)?;
            let mut ledger = self.entry.ledger.lock();
            if let Some(error) = self.entry.ledger.take_failure() {
                return Err(out_of_sync(error));
            }
            ledger.apply(words, stamp).map_err(out_of_sync)?;
            ledger.set_oldest_slot(i64::from(oldest_slot));
            let expired = if expire {
                ledger.expire(now)
            } else {
                Vec::new()
            };
            if expired.is_empty() {
                return Ok(None);
            }
            let flat: Vec<f64> = expired
                .iter()
                .flat_map(|e| {
                    [
                        f64::from(e.slot),
                        f64::from(e.site),
                        e.age_ms as f64,
                        f64::from(e.serial),
                    ]
                })
                .collect();
            Ok(Some(Float64Array::new(flat)))
        })
    }

    /// Hands `log[0..len]` (a full log) over to the maintenance thread, so
    /// the JS thread does not wait while the ledger applies it. Its errors
    /// surface at the next `drain`.
    #[napi]
    pub fn defer(&self, log: &[i32], len: u32, now: f64) -> Result<()> {
        run(|| {
            let words = log_words(log, len)?;
            maintenance::defer(&self.entry.ledger, words, stamp_ms(now)?).map_err(out_of_sync)
        })
    }

    /// Starts the ledger again from the facade's state: `live[0..len]` holds
    /// `[slot, site word, serial]` for every entry JavaScript holds, and
    /// `last_serial` its insert counter (see `Ledger::rebuild`). Batches
    /// still queued are applied first and any failure they kept is dropped:
    /// the facade's state supersedes them.
    #[napi]
    pub fn rebuild(&self, live: &[i32], len: u32, last_serial: i32, now: f64) -> Result<()> {
        run(|| {
            let words = log_words(live, len)?;
            if words.len() % 3 != 0 {
                return Err(format!(
                    "rebuild: {len} words are not [slot, site, serial] triples"
                ));
            }
            let entries: Vec<LiveEntry> = words
                .chunks_exact(3)
                .map(|w| LiveEntry {
                    slot: w[0] as u32,
                    site: w[1] as u32,
                    serial: w[2] as u32,
                })
                .collect();
            let now = clock_ms(now)?;
            self.entry
                .ledger
                .rebuild(&entries, last_serial as u32, now)
                .map_err(out_of_sync)
        })
    }

    /// After expired entries left the JS map, its oldest entry may have changed.
    #[napi]
    pub fn set_oldest_slot(&self, slot: i32) -> Result<()> {
        run(|| {
            self.entry.ledger.lock().set_oldest_slot(i64::from(slot));
            Ok(())
        })
    }

    /// `[insertedAt, ageMs, expiresInMs (-1 = never), site]` of a live slot.
    #[napi]
    pub fn entry_info(&self, slot: u32, now: f64) -> Result<Option<Vec<f64>>> {
        run(|| {
            let now = clock_ms(now)?;
            Ok(self.entry.ledger.lock().entry(slot, now).map(|info| {
                vec![
                    info.inserted_at as f64,
                    info.age_ms as f64,
                    info.expires_in_ms.map_or(-1.0, |ms| ms as f64),
                    f64::from(info.site),
                ]
            }))
        })
    }

    /// This map's report (see `report.rs`); `now` is the map's clock.
    #[napi(ts_return_type = "object")]
    pub fn report<'env>(
        &self,
        env: &'env Env,
        options: ReportOptions,
        now: f64,
    ) -> Result<Unknown<'env>> {
        let report = run(|| {
            let now = clock_ms(now)?;
            let interner = INTERNER.lock();
            Ok(report::map_report(
                &self.entry,
                &options.into(),
                Some(now),
                &interner,
            ))
        })?;
        env.to_js_value(&report)
    }

    /// The map's registry id (as in reports).
    #[napi(getter)]
    pub fn id(&self) -> f64 {
        self.entry.id as f64
    }

    /// Takes the map out of the registry (its figures stay readable here).
    #[napi]
    pub fn close(&self) -> Result<()> {
        run(|| {
            registry::unregister(self.entry.id);
            Ok(())
        })
    }
}

impl Drop for NativeLedger {
    fn drop(&mut self) {
        registry::unregister(self.entry.id);
    }
}

/// When a worker's environment is torn down, its maps leave the registry
/// even if their finalizers never run.
fn hook_thread_cleanup(env: &Env) -> Result<()> {
    if CLEANUP_HOOKED.with(|hooked| hooked.replace(true)) {
        return Ok(());
    }
    env.add_env_cleanup_hook((), |_| {
        registry::unregister_current_thread();
        CLEANUP_HOOKED.with(|hooked| hooked.set(false));
    })?;
    Ok(())
}

/// This thread's view of the coarse clock (`ticker.rs`): a `Float64Array`
/// `[ms, seen]` that a background thread keeps current, or `null` where the
/// runtime copies external buffers (the view would never move; the facade
/// then reads the clock itself).
#[napi(ts_return_type = "Float64Array | null")]
pub fn clock_cell(env: &Env) -> Result<Option<Float64ArraySlice<'_>>> {
    let cell = TICKER.cell();
    let data = Arc::as_ptr(&cell) as *mut f64;
    // Safety: the cell is two 8-byte atomics (`repr(C)`), kept alive by the
    // `Arc` the finalizer holds until the buffer is collected or its thread
    // ends; the finalizer then stops the ticker from writing to it.
    let view = unsafe {
        Float64ArraySlice::from_external(env, data, 2, cell, |_, cell| TICKER.release(&cell))
    }?;
    Ok((view.as_ptr() == data.cast_const()).then_some(view))
}

/// The coarse clock's exact time (ms since its origin); resumes the ticker
/// when it was parked.
#[napi]
pub fn clock_wake() -> f64 {
    TICKER.wake()
}

/// Interns a captured stack (innermost frame first); returns its stack id.
#[napi]
pub fn intern_stack(frames: Vec<String>) -> Result<u32> {
    run(|| {
        let frames: Vec<&str> = frames.iter().map(String::as_str).collect();
        INTERNER
            .lock()
            .intern(&frames)
            .map_err(|_| "a stack needs at least one frame".to_owned())
    })
}

/// Report options as JS passes them (validated by the facade).
#[napi(object)]
pub struct ReportOptions {
    pub map: Option<String>,
    pub limit: Option<u32>,
    pub callers: Option<u32>,
    pub outlier_factor: Option<f64>,
    pub outlier_floor_ms: Option<f64>,
    pub expiry_share: Option<f64>,
}

impl From<ReportOptions> for report::Options {
    fn from(options: ReportOptions) -> Self {
        let defaults = report::Rules::default();
        report::Options {
            map: options.map,
            limit: options.limit,
            callers: options.callers,
            rules: report::Rules {
                outlier_factor: options.outlier_factor.unwrap_or(defaults.outlier_factor),
                outlier_floor_ms: options
                    .outlier_floor_ms
                    .map_or(defaults.outlier_floor_ms, |ms| ms as u64),
                expiry_share: options.expiry_share.unwrap_or(defaults.expiry_share),
            },
        }
    }
}

#[napi(object)]
pub struct SiteDescription {
    pub site: String,
    pub stack: Vec<String>,
}

/// The site text (top frame) and frames of a stack id.
#[napi]
pub fn describe_site(site: u32) -> Result<Option<SiteDescription>> {
    run(|| {
        let interner = INTERNER.lock();
        Ok(interner.site_text(site).map(|text| SiteDescription {
            site: text.to_owned(),
            stack: interner
                .site_stack(site)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }))
    })
}

/// Every registered map's report, from any thread. Figures of maps owned by
/// other threads lag by at most their flush interval.
#[napi(ts_return_type = "object[]")]
pub fn registry_report(env: &Env, options: ReportOptions) -> Result<Unknown<'_>> {
    let options: report::Options = options.into();
    let reports = run(|| {
        let maps = registry::maps();
        let interner = INTERNER.lock();
        Ok(maps
            .iter()
            .filter(|entry| report::selected(entry, &options))
            .map(|entry| report::map_report(entry, &options, None, &interner))
            .collect::<Vec<_>>())
    })?;
    env.to_js_value(&reports)
}

/// Lifetime counters of one map name: its live and closed maps summed.
#[napi(object)]
pub struct NameTotals {
    pub name: String,
    pub inserts: f64,
    pub removes: f64,
    pub expired: f64,
    pub live_maps: u32,
    pub closed_maps: f64,
}

/// Lifetime counters by map name (`map`: only that name), closed and
/// collected maps included, so they never decrease (see `registry.rs`).
#[napi]
pub fn registry_totals(map: Option<String>) -> Result<Vec<NameTotals>> {
    run(|| {
        Ok(registry::totals_by_name(map.as_deref())
            .into_iter()
            .map(|totals| NameTotals {
                name: totals.name,
                inserts: totals.inserts as f64,
                removes: totals.removes as f64,
                expired: totals.expired as f64,
                live_maps: totals.live_maps,
                closed_maps: totals.closed_maps as f64,
            })
            .collect())
    })
}

/// The operation log's wire format (`oplog.rs`), for the facade to read once
/// at load: the codes are defined in one place.
#[napi(object)]
pub struct OpCodes {
    pub code_bits: u32,
    pub insert: u32,
    pub remove: u32,
    pub remove_at: u32,
    pub overwrite: u32,
    pub touch: u32,
    pub clear: u32,
    pub time: u32,
    /// Set in a TIME word whose time came from the coarse clock.
    pub time_coarse: u32,
    /// Set in an INSERT's site word when `hold()`/`acquire()` inserted the entry.
    pub held_site: u32,
}

#[napi]
pub fn op_codes() -> OpCodes {
    OpCodes {
        code_bits: oplog::CODE_BITS,
        insert: oplog::INSERT,
        remove: oplog::REMOVE,
        remove_at: oplog::REMOVE_AT,
        overwrite: oplog::OVERWRITE,
        touch: oplog::TOUCH,
        clear: oplog::CLEAR,
        time: oplog::TIME,
        time_coarse: oplog::TIME_COARSE,
        held_site: oplog::HELD_SITE,
    }
}

/// The package version this binary was built for (Cargo.toml's, kept equal
/// to package.json's): the loader refuses a binary of another version, whose
/// entry points may not match the facade's.
#[napi]
pub fn binding_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The Cargo features this binary was built with, between NULs so a
/// packaging check can read them from the file of any platform's binary
/// without loading it (scripts/release/binary-features.js): `npm run
/// build:test` says `features=testing`, a release build `features=`.
const BUILD_FEATURES: &str = if cfg!(feature = "testing") {
    "\0handle-ledger build features=testing\0"
} else {
    "\0handle-ledger build features=\0"
};

/// What `buildInfo()` returns.
#[napi(object)]
pub struct BuildInfo {
    /// `["testing"]` for `npm run build:test`, `[]` for a release build.
    pub features: Vec<String>,
}

#[napi]
pub fn build_info() -> BuildInfo {
    // black_box: the marker must stay in the file whole, not be folded away.
    let marker = std::hint::black_box(BUILD_FEATURES).trim_matches('\0');
    let list = marker.split_once('=').map_or("", |(_, list)| list);
    BuildInfo {
        features: list
            .split(',')
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect(),
    }
}

/// Panics inside the guard, so tests can check that a native panic reaches JS
/// as an Error with the panic text and a native backtrace (no input of the
/// public API panics; this is the guard's end-to-end check). Only in builds
/// with the `testing` feature (`npm run build:test`), never in a release.
#[cfg(feature = "testing")]
#[napi]
pub fn panic_for_testing(message: String) -> Result<()> {
    run(|| panic!("{message}"))
}

/// Hands `ledger` a batch that panics when the maintenance thread applies
/// it: the owner must hear of it at its next drain. `testing` builds only.
#[cfg(feature = "testing")]
#[napi]
pub fn defer_panicking_batch_for_testing(ledger: &NativeLedger) -> Result<()> {
    run(|| {
        maintenance::defer(&ledger.entry.ledger, &[], maintenance::PANIC_FOR_TESTING)
            .map_err(out_of_sync)
    })
}
