'use strict'
// No panic crosses the FFI boundary. Corrupt and out-of-range
// input goes straight into the native binding (NativeLedger.drain and the
// other entry points, bypassing the facade's validation): each call is a JS
// exception or a harmless answer, the process survives, and a map's figures do
// not change when the input is refused outright. A native panic (the inputs
// that once panicked are fixed, so binding.panicForTesting provides one) comes
// back as an Error carrying the panic text and the native backtrace. Exhausted
// capacity (slot numbers that ask for gigabytes; a full call-site interner)
// runs in child processes under an address-space limit.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const native = require('../binding.js')
const { HandleMap } = require('..')
// The map's native ledger (internal: not exported from index.js).
const nativeLedgerOf = require('../lib/map/handle-map.js').internals.nativeLedger

const { NativeLedger } = native
// The wire format's one definition is src/oplog.rs; the facade reads it from the binding too.
const { codeBits: CODE_BITS, insert: INSERT, remove: REMOVE, removeAt: REMOVE_AT, overwrite: OVERWRITE, touch: TOUCH, clear: CLEAR, time: TIME } = native.opCodes()
const op = (slot, code) => (slot << CODE_BITS) | code

/** A HandleMap with two entries, and the figures a refused call must leave alone. */
function victim () {
  const map = new HandleMap({ name: `guard-${process.pid}-${Math.random().toString(36).slice(2)}`, ttl: 60_000, strict: false, flushInterval: 60_000 })
  map.set('a', 1)
  map.set('b', 2)
  map.report()
  return map
}

function figures (map) {
  const r = map.report()
  return { live: r.live, inserts: r.inserts, removes: r.removes, expired: r.expired, overwrites: r.overwrites, size: map.size }
}

// [entry point, input, call(ledger), expected: 'error' | 'accepted', atomic: figures unchanged]
const CASES = [
  ['drain', 'log is a string', l => l.drain('abc', 1, 0, -1, false), 'error'],
  ['drain', 'log is a plain array', l => l.drain([op(0, REMOVE)], 1, 0, -1, false), 'error'],
  ['drain', 'log is a Float64Array', l => l.drain(new Float64Array(4), 2, 0, -1, false), 'error'],
  ['drain', 'log is a Uint32Array', l => l.drain(new Uint32Array(4), 2, 0, -1, false), 'error'],
  ['drain', 'log is null', l => l.drain(null, 0, 0, -1, false), 'error'],
  ['drain', 'log is a DataView', l => l.drain(new DataView(new ArrayBuffer(8)), 2, 0, -1, false), 'error'],
  ['drain', 'len beyond the buffer', l => l.drain(new Int32Array(2), 3, Date.now(), -1, false), 'error'],
  ['drain', 'len -1 (wraps to 2^32 - 1)', l => l.drain(new Int32Array(2), -1, Date.now(), -1, false), 'error'],
  ['drain', 'len 2^53 (wraps to 0)', l => l.drain(new Int32Array(2), 2 ** 53, Date.now(), -1, false), 'accepted'],
  ['drain', 'len 2^32 + 3 (wraps to 3, beyond the buffer)', l => l.drain(new Int32Array(2), 2 ** 32 + 3, Date.now(), -1, false), 'error'],
  ['drain', 'len NaN (read as 0)', l => l.drain(new Int32Array(2), NaN, Date.now(), -1, false), 'accepted'],
  ['drain', 'len "2"', l => l.drain(new Int32Array(2), '2', Date.now(), -1, false), 'error'],
  ['drain', 'now NaN', l => l.drain(new Int32Array(0), 0, NaN, -1, false), 'error'],
  ['drain', 'now -1', l => l.drain(new Int32Array(0), 0, -1, -1, false), 'error'],
  ['drain', 'now Infinity', l => l.drain(new Int32Array(0), 0, Infinity, -1, false), 'error'],
  ['drain', 'now "5"', l => l.drain(new Int32Array(0), 0, '5', -1, false), 'error'],
  ['drain', 'now a BigInt', l => l.drain(new Int32Array(0), 0, 5n, -1, false), 'error'],
  ['drain', 'expire "yes"', l => l.drain(new Int32Array(0), 0, Date.now(), -1, 'yes'), 'error'],
  ['drain', 'oldestSlot 2^40 (wraps)', l => l.drain(new Int32Array(0), 0, Date.now(), 2 ** 40, false), 'accepted'],
  ['drain', 'oldestSlot "x"', l => l.drain(new Int32Array(0), 0, Date.now(), 'x', false), 'error'],
  ['drain', 'no arguments', l => l.drain(), 'error'],
  ['drain', 'unknown operation code 0', l => l.drain(new Int32Array([0]), 1, Date.now(), -1, false), 'error'],
  ['drain', 'word -1 (code 7 = TIME, cut short)', l => l.drain(new Int32Array([-1]), 1, Date.now(), -1, false), 'error'],
  ['drain', 'INSERT cut short', l => l.drain(new Int32Array([op(9, INSERT)]), 1, Date.now(), -1, false), 'error'],
  ['drain', 'TIME cut short', l => l.drain(new Int32Array([TIME, 5]), 2, Date.now(), -1, false), 'error'],
  ['drain', 'CLEAR cut short', l => l.drain(new Int32Array([CLEAR]), 1, Date.now(), -1, false), 'error'],
  ['drain', 'REMOVE of a slot that is not live', l => l.drain(new Int32Array([op(77, REMOVE)]), 1, Date.now(), -1, false), 'error'],
  ['drain', 'REMOVE of the largest slot', l => l.drain(new Int32Array([op((1 << 29) - 1, REMOVE)]), 1, Date.now(), -1, false), 'error'],
  ['drain', 'OVERWRITE of a slot that is not live', l => l.drain(new Int32Array([op(77, OVERWRITE)]), 1, Date.now(), -1, false), 'error'],
  ['drain', 'TOUCH of a slot that is not live', l => l.drain(new Int32Array([op(77, TOUCH)]), 1, Date.now(), -1, false), 'error'],
  ['drain', 'INSERT into a live slot (0)', l => l.drain(new Int32Array([op(0, INSERT), 0]), 2, Date.now(), -1, false), 'error'],
  ['drain', 'INSERT and REMOVE with unknown site ids, then a report', l => {
    l.drain(new Int32Array([op(5000, INSERT), 0x7fffffff, op(5000, REMOVE_AT), -5]), 4, Date.now(), -1, false)
    l.report({ limit: 100 }, Date.now())
  }, 'accepted', false],
  ['drain', 'random garbage', l => l.drain(Int32Array.from({ length: 64 }, (_, i) => (i * 0x9e3779b1) | 0), 64, Date.now(), -1, true), 'error'],
  ['defer', 'log is a string', l => l.defer('abc', 1, Date.now()), 'error'],
  ['defer', 'len beyond the buffer', l => l.defer(new Int32Array(2), 3, Date.now()), 'error'],
  ['defer', 'now NaN', l => l.defer(new Int32Array(0), 0, NaN), 'error'],
  ['defer', 'a corrupt batch: refused at the next drain', l => {
    l.defer(new Int32Array([op(77, REMOVE)]), 1, Date.now())
    l.drain(new Int32Array(0), 0, Date.now(), -1, false)
  }, 'error'],
  ['defer', 'called on a plain object', () => NativeLedger.prototype.defer.call({}, new Int32Array(0), 0, 0), 'error'],
  ['entryInfo', 'slot -1 (wraps)', l => l.entryInfo(-1, Date.now()), 'accepted'],
  ['entryInfo', 'slot 2^32 + 5', l => l.entryInfo(2 ** 32 + 5, Date.now()), 'accepted'],
  ['entryInfo', 'now NaN', l => l.entryInfo(0, NaN), 'error'],
  ['entryInfo', 'slot "0"', l => l.entryInfo('0', Date.now()), 'error'],
  ['report', 'options null', l => l.report(null, Date.now()), 'error'],
  ['report', '{ limit: -1 } (wraps)', l => l.report({ limit: -1 }, Date.now()), 'accepted'],
  ['report', '{ map: 5 }', l => l.report({ map: 5 }, Date.now()), 'error'],
  ['report', 'now -Infinity', l => l.report({}, -Infinity), 'error'],
  ['setOldestSlot', '"x"', l => l.setOldestSlot('x'), 'error'],
  ['setOldestSlot', '-1', l => l.setOldestSlot(-1), 'accepted', false],
  ['drain', 'called on a plain object', () => NativeLedger.prototype.drain.call({}, new Int32Array(0), 0, 0, -1, false), 'error'],
  ['drain', 'called on a HandleMap', l => NativeLedger.prototype.drain.call(new HandleMap({ strict: false }), new Int32Array(0), 0, 0, -1, false), 'error']
]

const MODULE_CASES = [
  ['internStack', '[]', () => native.internStack([]), 'error'],
  ['internStack', '[1]', () => native.internStack([1]), 'error'],
  ['internStack', '"abc"', () => native.internStack('abc'), 'error'],
  ['internStack', 'null', () => native.internStack(null), 'error'],
  ['internStack', 'one 1 MB frame', () => native.internStack(['f'.repeat(1 << 20)]), 'accepted'],
  ['internStack', '[a frame with NUL and lone surrogates]', () => native.internStack(['\u0000\ud800\udfff\ud800']), 'accepted'],
  ['describeSite', '-1', () => native.describeSite(-1), 'accepted'],
  ['describeSite', '2^32 + 7', () => native.describeSite(2 ** 32 + 7), 'accepted'],
  ['describeSite', '"x"', () => native.describeSite('x'), 'error'],
  ['registryReport', 'null', () => native.registryReport(null), 'error'],
  ['registryReport', '{ map: 1 }', () => native.registryReport({ map: 1 }), 'error'],
  ['registryReport', '{ limit: 2^40 }', () => native.registryReport({ limit: 2 ** 40 }), 'accepted'],
  ['NativeLedger', 'ttl -1', () => new NativeLedger({ name: 'n', ttlMs: -1, callSites: 'all', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: 0 }), 'error'],
  ['NativeLedger', 'ttl NaN', () => new NativeLedger({ name: 'n', ttlMs: NaN, callSites: 'all', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: 0 }), 'error'],
  ['NativeLedger', 'callSites "xx"', () => new NativeLedger({ name: 'n', ttlMs: 0, callSites: 'xx', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: 0 }), 'error'],
  ['NativeLedger', 'name 5', () => new NativeLedger({ name: 5, ttlMs: 0, callSites: 'all', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: 0 }), 'error'],
  ['NativeLedger', 'now NaN', () => new NativeLedger({ name: 'n', ttlMs: 0, callSites: 'all', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: NaN }), 'error'],
  ['NativeLedger', 'options not an object', () => new NativeLedger('n'), 'error'],
  ['NativeLedger', 'options missing fields', () => new NativeLedger({ name: 'n' }), 'error'],
  ['NativeLedger', 'sampleRate -1, threadId -1 (wrap)', () => new NativeLedger({ name: 'n', ttlMs: 0, callSites: 'sampled', sampleRate: -1, threadId: -1, flushIntervalMs: 0, defaultClock: false, now: 0 }), 'accepted']
]

test('the op codes come from the binding: distinct, below 1 << codeBits, and a log written with them reads back as written', () => {
  const codes = [INSERT, REMOVE, REMOVE_AT, OVERWRITE, TOUCH, CLEAR, TIME]
  assert.equal(new Set(codes).size, codes.length)
  for (const code of codes) assert.ok(Number.isInteger(code) && code > 0 && code < 1 << CODE_BITS, `code ${code}`)
  assert.equal(CODE_BITS, 3, 'lib/handle-map.js shifts slots by a literal 3')
  const ledger = new NativeLedger({ name: `op-codes-${process.pid}`, ttlMs: 1_000, callSites: 'all', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: 0 })
  const site = native.internStack(['opCodes test (op-codes.js:1:1)'])
  const now = 2 ** 33 + 5 // a TIME word carries the high bits too
  const log = [
    TIME, now % 2 ** 32 | 0, Math.floor(now / 2 ** 32),
    op(0, INSERT), site, op(1, INSERT), 0, op(2, INSERT), 0,
    op(0, OVERWRITE), op(1, TOUCH),
    op(1, REMOVE_AT), site, op(2, REMOVE),
    op(3, INSERT), 0, CLEAR, 0
  ]
  assert.equal(ledger.drain(Int32Array.from(log), log.length, now, -1, true), null)
  const report = ledger.report({ limit: 5 }, now)
  assert.deepEqual(
    { live: report.live, inserts: report.inserts, removes: report.removes, overwrites: report.overwrites, expired: report.expired },
    { live: 0, inserts: 4, removes: 4, overwrites: 1, expired: 0 })
  ledger.close()
})

function isInternal (error) {
  return /internal error|panicked/.test(String(error && error.message))
}

test(`native entry points: ${CASES.length + MODULE_CASES.length} corrupt or out-of-range inputs are JS exceptions or harmless, never a crash`, async t => {
  for (const [fn, input, call, expected, atomic = true] of CASES) {
    await t.test(`NativeLedger.${fn}: ${input} -> ${expected}`, () => {
      const map = victim()
      const before = figures(map)
      let error = null
      try {
        call(nativeLedgerOf(map))
      } catch (e) {
        error = e
      }
      if (expected === 'error') {
        assert.ok(error instanceof Error, `expected a JS exception, got ${error === null ? 'none' : String(error)}`)
        assert.ok(error.message.length > 0)
        assert.ok(!isInternal(error), `a refused input must be a plain error, not a caught panic: ${error.message.split('\n')[0]}`)
      } else {
        assert.equal(error, null, `expected to be accepted, threw ${error && error.message}`)
      }
      if (atomic) assert.deepEqual(figures(map), before, 'the map\'s figures changed')
      // The map still works through its public API, figures balanced.
      map.set('c', 3)
      map.delete('a')
      const r = map.report()
      assert.equal(r.live, map.size)
      assert.equal(r.live, r.inserts - r.removes - r.expired)
      map.close()
    })
  }
  for (const [fn, input, call, expected] of MODULE_CASES) {
    await t.test(`${fn}: ${input} -> ${expected}`, () => {
      let error = null
      let result
      try {
        result = call()
      } catch (e) {
        error = e
      }
      if (expected === 'error') {
        assert.ok(error instanceof Error, `expected a JS exception, got ${error === null ? 'none' : String(error)}`)
        assert.ok(!isInternal(error), error.message)
      } else {
        assert.equal(error, null, `expected to be accepted, threw ${error && error.message}`)
      }
      if (result instanceof NativeLedger) result.close()
    })
  }
})

test('a drain with a valid prefix and a corrupt tail is an error; the ledger stays usable and balanced', () => {
  const map = victim()
  // INSERT into a fresh slot, then garbage.
  assert.throws(() => nativeLedgerOf(map).drain(new Int32Array([op(900, INSERT), 0, 0]), 3, Date.now(), -1, false), /corrupt operation log|out of sync/)
  const r = nativeLedgerOf(map).report({ limit: 5 }, Date.now())
  assert.equal(r.live, r.inserts - r.removes - r.expired)
  map.close()
})

test('a native panic becomes a JS Error carrying the panic text and the native backtrace; the ledger survives it', () => {
  // No input of the public API panics any more (each such input found by this
  // suite was fixed); binding.panicForTesting panics inside the same guard
  // every entry point runs in.
  const binding = require('../binding.js')
  assert.equal(typeof binding.panicForTesting, 'function', 'a release build has no panicForTesting: build with `npm run build:test`')
  const now = Date.now()
  const ledger = new NativeLedger({ name: `panic-${process.pid}`, ttlMs: 100, callSites: 'all', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now })
  ledger.drain(new Int32Array([op(0, INSERT), 0]), 2, now, 0, false)
  assert.throws(() => binding.panicForTesting('deliberate panic 1234'), error => {
    assert.ok(error instanceof Error)
    assert.match(error.message, /^handle-ledger internal error: panicked at src\/\w+\.rs:\d+:\d+/)
    assert.match(error.message, /deliberate panic 1234/)
    assert.match(error.message, /native backtrace:/)
    assert.match(error.message, /handle_ledger::/, 'the backtrace names handle-ledger frames')
    return true
  })
  // The process survived and nothing is poisoned: the same ledger answers, and new maps work.
  const report = ledger.report({ limit: 5 }, now)
  assert.equal(report.live, 1)
  ledger.close()
  const map = victim()
  map.set('after-panic', 1)
  assert.equal(map.report().live, 3)
  map.close()
})

function runChild (source, { memoryLimitKB } = {}) {
  const args = memoryLimitKB === undefined
    ? [process.execPath, ['-e', source]]
    : ['/bin/sh', ['-c', `ulimit -v ${memoryLimitKB} && exec "$0" -e "$1"`, process.execPath, source]]
  return spawnSync(args[0], args[1], { encoding: 'utf8', timeout: 120_000, cwd: path.join(__dirname, '..') })
}

test('exhausted capacity: a slot number that asks for gigabytes is an error, not an abort (3 GB address-space limit)', () => {
  // The op log can name any slot below 2^29; the ledger and the expiry
  // schedule size their arrays to the largest slot seen (gigabytes at 2^29).
  // A slot far past the end is refused before anything is allocated.
  const result = runChild(`
    const { NativeLedger } = require('./binding.js')
    const ledger = new NativeLedger({ name: 'huge-slot', ttlMs: 100, callSites: 'off', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: 0 })
    const slot = (1 << 29) - 1
    try {
      ledger.drain(new Int32Array([(slot << 3) | 1, 0]), 2, 0, -1, false) // INSERT
      console.log('accepted')
    } catch (error) {
      console.log('refused: ' + error.message)
    }
    const r = ledger.report({}, 0)
    console.log('survived live=' + r.live)
  `, { memoryLimitKB: 3_000_000 })
  assert.equal(result.signal, null, `the process was killed by ${result.signal}:\n${result.stderr.slice(0, 500)}`)
  assert.equal(result.status, 0, `the process died (status ${result.status}):\n${result.stderr.slice(0, 500)}`)
  // Refused before anything is allocated: a slot that far past the end is corrupt input.
  assert.match(result.stdout, /^refused: handle-ledger ledger out of sync: slot 536870911 is out of range$/m)
  assert.match(result.stdout, /^survived live=0$/m)
})

test('exhausted capacity: slots that grow the ledger 64 K at a time towards 2^29 end in an error, not an abort (2.5 GB address-space limit)', () => {
  // Each insert lands within 2^16 of the end, as far as a slot may jump; the
  // ledger's and the expiry schedule's arrays grow until memory runs out.
  const result = runChild(`
    const { NativeLedger } = require('./binding.js')
    const ledger = new NativeLedger({ name: 'stepping-slots', ttlMs: 100, callSites: 'off', sampleRate: 1, threadId: 0, flushIntervalMs: 1000, defaultClock: false, now: 0 })
    const words = []
    for (let slot = 0; slot < (1 << 29); slot += 1 << 16) words.push((slot << 3) | 1, 0)
    try {
      ledger.drain(Int32Array.from(words), words.length, 0, -1, false)
      console.log('accepted')
    } catch (error) {
      console.log('refused: ' + error.message)
    }
    const r = ledger.report({}, 0)
    console.log('survived live=' + r.live)
  `, { memoryLimitKB: 2_500_000 })
  assert.equal(result.signal, null, `the process was killed by ${result.signal}:\n${result.stderr.slice(0, 500)}`)
  assert.equal(result.status, 0, `the process died (status ${result.status}):\n${result.stderr.slice(0, 500)}`)
  // Every step is a legal one: only memory can stop it, as an error.
  assert.match(result.stdout, /^refused: handle-ledger ledger out of sync: no memory for one more slot$/m)
  assert.match(result.stdout, /^survived live=\d+$/m)
})

test('exhausted capacity: a full call-site interner answers the overflow site, old sites still resolve', () => {
  const result = runChild(`
    const native = require('./binding.js')
    const first = native.internStack(['first (a.js:1:1)'])
    let last = 0
    let overflowAt = -1
    for (let i = 0; i < (1 << 20) + 10; i++) {
      last = native.internStack(['f' + i + ' (gen.js:' + i + ':1)'])
      if (last === 1 && overflowAt < 0) overflowAt = i
    }
    const described = native.describeSite(last)
    const old = native.describeSite(first)
    console.log(JSON.stringify({ overflowAt, last, described: described && described.site, old: old && old.site }))
  `)
  assert.equal(result.status, 0, result.stderr.slice(0, 500))
  const out = JSON.parse(result.stdout.trim().split('\n').pop())
  assert.ok(out.overflowAt > 0, 'the interner reports overflow after its capacity')
  assert.equal(out.last, 1)
  assert.match(out.described, /too many distinct call sites/)
  assert.equal(out.old, 'first (a.js:1:1)')
})
