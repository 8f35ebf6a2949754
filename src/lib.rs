//! handle-ledger's native side: the bookkeeping behind `HandleMap`.
//!
//! - `expiry`: entries grouped by deadline into generations, a queue of them
//! - `oplog`: the wire format of operations drained from JS
//! - `ledger`: one map's figures, per map and per insert stack
//! - `lifetimes`: ages at removal, a fixed-size log-bucketed histogram
//! - `maintenance`: full op logs applied by a background thread, readers never behind
//! - `interner`: call-site and stack interning
//! - `report`: ledgers into bounded, sorted reports
//! - `registry`: every live map of the process
//! - `ticker`: a millisecond clock kept in memory JS reads with one load
//! - `guard`: panics become JS errors with a native backtrace
//! - `binding`: the napi entry points (the only module that knows JS)

pub(crate) mod expiry;
pub(crate) mod guard;
pub(crate) mod interner;
pub(crate) mod ledger;
pub(crate) mod lifetimes;
pub(crate) mod maintenance;
pub(crate) mod oplog;
pub(crate) mod registry;
pub(crate) mod report;
pub(crate) mod rules;
pub(crate) mod ticker;
pub(crate) mod verdicts;

// napi registers the entry points only outside `cargo test` builds, where
// every one would look unused: the binding has no Rust tests of its own (the
// JS suite tests it), so test builds leave it out.
#[cfg(not(test))]
mod binding;

#[cfg(test)]
mod properties;
