'use strict'
// What one hand-over of a full operation log costs the JS thread:
// NativeLedger.defer() on a prepared log (10,000 live entries, a TTL), with
// a busy pause between hand-overs as long as a map at full speed takes to
// fill its next log. Also times the log's zeroing that follows a hand-over.
//
//   node bench/hand-over.js [pause in us, default 400] [hand-overs, default 400]
//
// ARCHITECTURE.md quotes it (the hand-over's cost).

const native = require('../binding.js')
const { median } = require('./cycle.js')

const PAUSE_US = Number(process.argv[2] || 400)
const HAND_OVERS = Number(process.argv[3] || 400)
const LIVE = 10_000
const LOG_WORDS = 8192
const { insert: INSERT, remove: REMOVE } = native.opCodes()

const ledger = new native.NativeLedger({ name: 'bench-hand-over', ttlMs: 30_000, callSites: 'off', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: 1000 })
const filled = []
for (let slot = 0; slot < LIVE; slot++) filled.push(slot << 3 | INSERT, 0)
ledger.drain(Int32Array.from(filled), filled.length, 1000, -1, false)

const log = new Int32Array(LOG_WORDS)
let oldest = 0
/** One log of remove-the-oldest + insert-it-again pairs, as full as the facade's. */
function fillLog () {
  let at = 0
  while (at + 3 <= LOG_WORDS - 6) {
    log[at++] = oldest << 3 | REMOVE
    log[at++] = oldest << 3 | INSERT
    log[at++] = 0
    oldest = (oldest + 1) % LIVE
  }
  return at
}

function busyFor (us) {
  const end = process.hrtime.bigint() + BigInt(Math.round(us * 1000))
  while (process.hrtime.bigint() < end);
}

const deferNs = []
const zeroNs = []
let now = 1001
for (let i = 0; i < HAND_OVERS; i++) {
  const used = fillLog()
  const start = process.hrtime.bigint()
  ledger.defer(log, used, now++)
  const handedOver = process.hrtime.bigint()
  log.fill(0, 0, used)
  zeroNs.push(Number(process.hrtime.bigint() - handedOver))
  deferNs.push(Number(handedOver - start))
  busyFor(PAUSE_US)
}
ledger.close()

const percentile = (samples, p) => samples.slice().sort((a, b) => a - b)[Math.floor(p * (samples.length - 1))]
const us = ns => (ns / 1000).toFixed(1)
console.log(`${HAND_OVERS} hand-overs of a ${LOG_WORDS}-word log, ${PAUSE_US} us apart`)
console.log(`defer(): median ${us(median(deferNs))} us, 90th percentile ${us(percentile(deferNs, 0.9))} us`)
console.log(`zeroing the log: median ${us(median(zeroNs))} us`)
