//! handle-ledger's native side: the bookkeeping behind `HandleMap`.
//!
//! - `expiry`: entries grouped by deadline into generations, timed by the wheel
//! - `wheel`: the hierarchical timer wheel
//! - `oplog`: the wire format of operations drained from JS
//! - `ledger`: one map's figures, per map and per insert stack
//! - `lifetimes`: ages at removal, a fixed-size log-bucketed histogram
//! - `maintenance`: full op logs applied by a background thread, readers never behind
//! - `interner`: call-site and stack interning
//! - `report`: ledgers into bounded, sorted reports
//! - `registry`: every live map of the process
//! - `guard`: panics become JS errors with a native backtrace
//! - `binding`: the napi entry points (the only module that knows JS)

pub mod expiry;
pub mod guard;
pub mod interner;
pub mod ledger;
pub mod lifetimes;
pub mod maintenance;
pub mod oplog;
pub mod registry;
pub mod report;
pub mod wheel;

mod binding;

#[cfg(test)]
mod properties;
