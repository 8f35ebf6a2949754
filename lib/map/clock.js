'use strict'
// The clock of maps without a custom `clock`: monotonic, in ms, with its
// origin at the wall clock of the thread's start (performance.timeOrigin),
// so it reads close to Date.now() but never steps with NTP or a VM resume.
//
// Operations are stamped from a coarse copy of it that a native thread keeps
// in memory shared with this thread (src/ticker.rs): reading it is one
// typed-array load, where a clock call costs ~40 ns, a third of a whole Map
// operation. A map writes a TIME word into its op log only when the value
// moved, so lifetimes are exact to about a millisecond at no cost the hot
// path notices. Where the runtime copies external buffers, TICK holds NaN
// (it never equals a map's last tick) and each stamp reads the clock itself.
// So does every stamp while something replaced performance.now (fake timers
// in a test): the map's clock is then theirs, as its timers are.

const { performance } = require('node:perf_hooks')
const native = require('../../binding.js')

function monotonicNow () {
  return performance.timeOrigin + performance.now()
}

const realNow = performance.now
const realOrigin = performance.timeOrigin

/** True while performance.now (or timeOrigin) is not the runtime's own. */
function clockReplaced () {
  return performance.now !== realNow || performance.timeOrigin !== realOrigin
}

/** `[ms, seen]`: the ticker's time (0 while it is parked), and the mark this thread sets when it used a new value. */
const TICK = native.clockCell() ?? new Float64Array([NaN, 0])
// The ticker counts from its own origin, this thread from performance.timeOrigin.
const OFFSET = monotonicNow() - native.clockWake()

/** The time (this thread's clock, ms) at which an operation that saw `tick` happened at the latest. */
function msAtTick (tick) {
  TICK[1] = 1 // a reader: the ticker keeps going
  if (tick > 0) return tick + OFFSET
  // Parked (0): wake it, and take the exact time, a tick ahead as the cell shows it.
  if (tick === 0) return native.clockWake() + 1 + OFFSET
  return monotonicNow()
}

module.exports = { TICK, msAtTick, monotonicNow, clockReplaced }
