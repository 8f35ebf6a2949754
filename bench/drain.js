'use strict'
// The ledger's own cost, without the facade: NativeLedger.drain() on
// prepared operation logs. What the maintenance thread (or a tick) pays per
// operation, what expiry costs per expired entry and per idle tick, and what
// handing a full log over to the maintenance thread costs the JS thread.
//
//   node bench/drain.js [path/to/handle-ledger.node] [--rounds N] [--only NAME]
//
// The optional path measures another build of the addon (e.g. a copy of the
// previous one) with the same logs: run both, alternating, and compare.

const path = require('node:path')
const { median } = require('./cycle.js')

const args = process.argv.slice(2)
const addon = args.find(arg => arg.endsWith('.node'))
const native = addon === undefined ? require('../binding.js') : require(path.resolve(addon))
const { insert: INSERT, remove: REMOVE, touch: TOUCH, time: TIME } = native.opCodes === undefined
  ? { insert: 1, remove: 2, touch: 5, time: 7 } // builds older than opCodes()
  : native.opCodes()
const roundsAt = args.indexOf('--rounds')
const ROUNDS = roundsAt < 0 ? 7 : Number(args[roundsAt + 1])
const LIVE = 10_000
const LOG_WORDS = 8192
const op = (slot, code) => (slot << 3) | code

function ledger (ttl, now) {
  return new native.NativeLedger({ name: 'bench-drain', ttlMs: ttl, callSites: 'off', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now })
}

function timeNs (fn) {
  const start = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - start)
}

/** Fills slots 0..live-1 at `now`; returns the log words. */
function fill (live) {
  const words = []
  for (let slot = 0; slot < live; slot++) words.push(op(slot, INSERT), 0)
  return Int32Array.from(words)
}

/**
 * The hot path's traffic: insert one, remove the oldest, 10k live, logs as
 * full as the facade's. `stampEach` puts a TIME word before every insert (a
 * custom clock: one generation per insert) instead of one stamp per drain.
 */
function cycles ({ ttl, stampEach, pairs }) {
  let now = 1_000_000
  const map = ledger(ttl, now)
  map.drain(fill(LIVE), LIVE * 2, now, -1, false)
  let oldest = 0 // slots 0..LIVE-1 were inserted in order: slot i is removed, then reinserted as the newest
  const logs = []
  const perLog = stampEach ? 6 : 3
  let left = pairs
  let clock = now
  while (left > 0) {
    const words = []
    for (let i = 0; i < Math.floor(LOG_WORDS / perLog) && left > 0; i++, left--) {
      const slot = oldest
      words.push(op(slot, REMOVE))
      if (stampEach) words.push(TIME, ++clock, 0)
      words.push(op(slot, INSERT), 0)
      oldest = (oldest + 1) % LIVE
    }
    // The drain's clock: a millisecond on, and never behind a stamp.
    now = Math.max(now + 1, clock)
    logs.push({ log: Int32Array.from(words), now })
  }
  const ns = timeNs(() => {
    for (const { log, now } of logs) map.drain(log, log.length, now, -1, true)
  })
  map.close()
  return ns / pairs
}

/** Expiring `expiring` of `total` entries in one drain: ns per expired entry. */
function expiry (total, expiring) {
  const map = ledger(10_000, 0)
  const first = fill(expiring)
  map.drain(first, first.length, 0, -1, false)
  const words = []
  for (let slot = expiring; slot < total; slot++) words.push(op(slot, INSERT), 0)
  const rest = Int32Array.from(words)
  map.drain(rest, rest.length, 5_000, -1, false)
  let expired = 0
  const ns = timeNs(() => {
    const quadruples = map.drain(new Int32Array(0), 0, 10_000, -1, true)
    expired = quadruples === null ? 0 : quadruples.length / 4
  })
  if (expired !== expiring) throw new Error(`expected ${expiring} expired, got ${expired}`)
  map.close()
  return ns / expiring
}

/** A tick that expires nothing, with `live` entries in `generations` generations. */
function idleTick (live, generations) {
  const map = ledger(60_000, 0)
  const perGeneration = live / generations
  for (let g = 0; g < generations; g++) {
    const words = []
    for (let i = 0; i < perGeneration; i++) words.push(op(g * perGeneration + i, INSERT), 0)
    map.drain(Int32Array.from(words), words.length, g, -1, false)
  }
  const ticks = 20_000
  const empty = new Int32Array(0)
  let now = generations
  const ns = timeNs(() => {
    for (let i = 0; i < ticks; i++) map.drain(empty, 0, ++now, -1, true)
  })
  map.close()
  return ns / ticks
}

/** Touch every live entry once per log (refreshes: each moves to the newest generation). */
function touches () {
  let now = 1_000_000
  const map = ledger(30_000, now)
  map.drain(fill(LIVE), LIVE * 2, now, -1, false)
  const logs = []
  for (let n = 0; n < 40; n++) {
    const words = []
    for (let slot = 0; slot < LIVE; slot++) words.push(op((slot * 7919) % LIVE, TOUCH))
    logs.push(Int32Array.from(words))
  }
  const ns = timeNs(() => {
    for (const log of logs) map.drain(log, log.length, ++now, -1, true)
  })
  map.close()
  return ns / (40 * LIVE)
}

/**
 * One hand-over of a full log (`defer()`, what the facade calls every ~2,700
 * cycles): the JS thread's cost, median ns. Hand-overs are `pauseUs` apart,
 * about as long as a map at full speed takes to fill its next log, so the
 * maintenance thread is as idle or as busy as it would be.
 */
function handOvers ({ count, pauseUs }) {
  const now = 1_000_000
  const map = ledger(30_000, now)
  map.drain(fill(LIVE), LIVE * 2, now, -1, false)
  // Each pair removes a slot and inserts it again: the log applies any number of times.
  const words = []
  for (let slot = 0; slot < Math.floor(LOG_WORDS / 3) - 2; slot++) words.push(op(slot, REMOVE), op(slot, INSERT), 0)
  const log = Int32Array.from(words)
  const ns = []
  for (let i = 0; i < count; i++) {
    ns.push(timeNs(() => map.defer(log, log.length, now)))
    const until = process.hrtime.bigint() + BigInt(pauseUs * 1000)
    while (process.hrtime.bigint() < until);
  }
  map.close()
  return median(ns)
}

const scenarios = {
  'insert+remove pair, ttl, one stamp per log (ns)': () => cycles({ ttl: 30_000, stampEach: false, pairs: 2_000_000 }),
  'insert+remove pair, ttl, a TIME word per insert (ns)': () => cycles({ ttl: 30_000, stampEach: true, pairs: 1_000_000 }),
  'insert+remove pair, no ttl (ns)': () => cycles({ ttl: 0, stampEach: false, pairs: 2_000_000 }),
  'touch of a live entry, ttl (ns)': touches,
  'expiring 100k of 1M entries (ns per entry)': () => expiry(1_000_000, 100_000),
  'tick expiring nothing, 200k live in 1k generations (ns)': () => idleTick(200_000, 1_000),
  'hand-over of a full log, 400 us apart (ns)': () => handOvers({ count: 100, pauseUs: 400 })
}

const onlyAt = args.indexOf('--only') // e.g. --only touch: one scenario (for perf stat)
if (onlyAt >= 0) {
  for (const name of Object.keys(scenarios)) if (!name.includes(args[onlyAt + 1])) delete scenarios[name]
}
const samples = Object.fromEntries(Object.keys(scenarios).map(name => [name, []]))
for (const fn of Object.values(scenarios)) fn() // warm up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(scenarios)) samples[name].push(fn())
}
// The minimum as well: on a shared machine, noise only ever adds time.
console.log(`drain bench (${addon || 'binding.js'}), ${ROUNDS} rounds: median, minimum`)
for (const [name, values] of Object.entries(samples)) {
  console.log(`  ${name.padEnd(58)} ${median(values).toFixed(1).padStart(8)} ${Math.min(...values).toFixed(1).padStart(8)}`)
}
