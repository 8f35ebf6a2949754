'use strict'
// A full operation log is handed to the ledger's maintenance thread instead
// of being applied on the JS thread (src/maintenance.rs). Whoever reads the
// ledger next must see every handed-over operation, in order; expiry must
// stay exact; and the thread must never keep a finished process alive.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { HandleMap, registry } = require('..')

// The log holds 8192 words; an insert is two, a remove one: these counts
// hand dozens of batches over.
const INSERTS = 60_000
const REMOVES = 25_000

test('a report taken right after many handed-over logs counts every operation', () => {
  const map = new HandleMap({ name: `maintenance-${process.pid}`, callSites: 'off', ttl: 60_000, strict: false })
  for (let i = 0; i < INSERTS; i++) map.set(i, i)
  for (let i = 0; i < REMOVES; i++) map.delete(i)
  for (let i = INSERTS - 100; i < INSERTS; i++) map.set(i, -i) // overwrites
  const report = map.report()
  assert.equal(report.live, INSERTS - REMOVES)
  assert.equal(report.inserts, INSERTS)
  assert.equal(report.removes, REMOVES)
  assert.equal(report.overwrites, 100)
  const fromRegistry = registry.report({ map: map.name }).maps
  assert.equal(fromRegistry.length, 1)
  assert.equal(fromRegistry[0].live, INSERTS - REMOVES)
  map.close()
})

test('entries stamped in handed-over logs expire exactly once, at their deadline', () => {
  let now = 1_000
  const expired = []
  const map = new HandleMap({ callSites: 'off', ttl: 500, clock: () => now, strict: false, onExpire: e => expired.push(e.key) })
  for (let i = 0; i < INSERTS; i++) {
    if (i === INSERTS / 2) now = 1_200 // the second half is 200 ms younger
    map.set(i, i)
  }
  for (let i = 0; i < REMOVES; i++) map.delete(i) // from the first half only
  now = 1_499
  assert.equal(map.purgeExpired(), 0, 'nothing is due before its deadline')
  now = 1_500
  assert.equal(map.purgeExpired(), INSERTS / 2 - REMOVES)
  now = 1_700
  assert.equal(map.purgeExpired(), INSERTS / 2)
  assert.equal(map.size, 0)
  assert.equal(expired.length, INSERTS - REMOVES)
  assert.equal(new Set(expired).size, expired.length, 'an entry expired twice')
  assert.ok(expired.every(key => key >= REMOVES), 'a removed entry expired')
  map.close()
})

test('a process whose maps handed logs to the maintenance thread exits as soon as it is done', () => {
  const script = `
    const { HandleMap } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const map = new HandleMap({ callSites: 'off', ttl: 600000 })
    for (let i = 0; i < 200000; i++) map.set(i, { i })
    console.log('done', map.size)
  `
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(child.signal, null, `the process did not exit by itself (${child.signal})`)
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'done 200000')
})

test('a panic while the maintenance thread applies a handed-over batch is reported at the map\'s next drain, which rebuilds the ledger from the map', async () => {
  // A `testing` build (npm run build:test) hands over a batch that panics
  // when applied; nothing of the public API can.
  const native = require('../binding.js')
  const nativeLedgerOf = require('../lib/map/handle-map.js').internals.nativeLedger
  assert.equal(typeof native.deferPanickingBatchForTesting, 'function', 'a release build has no test hooks: build with `npm run build:test`')
  const warnings = []
  const onWarning = warning => { if (warning.code === 'HANDLE_LEDGER_RESYNC') warnings.push(warning) }
  process.on('warning', onWarning)
  try {
    const map = new HandleMap({ name: `maintenance-panic-${process.pid}`, callSites: 'off', strict: false, flushInterval: 60_000 })
    map.set('a', 1)
    assert.equal(map.report().live, 1)
    native.deferPanickingBatchForTesting(nativeLedgerOf(map))
    await new Promise(resolve => setTimeout(resolve, 50)) // the thread gets to it (or the drain below does)
    map.set('b', 2)
    const report = map.report() // the map keeps working: no throw
    assert.equal(report.live, 2, 'the rebuilt ledger counts what the map holds')
    assert.equal(report.reset.count, 1)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(warnings.length, 1)
    assert.match(warnings[0].message, /rebuilt from the map's own entries \(handle-ledger ledger out of sync: handle-ledger internal error: panicked at src\/maintenance\.rs/)
    assert.match(warnings[0].cause.message, /deliberate panic while applying a handed-over batch/)
    assert.match(warnings[0].cause.message, /native backtrace:/)
    // Reported once; the thread and the map go on.
    map.report()
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(warnings.length, 1)
    map.close()
    const other = new HandleMap({ name: `maintenance-after-panic-${process.pid}`, callSites: 'off', strict: false })
    for (let i = 0; i < 20_000; i++) other.set(i, i) // hands several logs over
    assert.equal(other.report().live, 20_000)
    other.close()
  } finally {
    process.off('warning', onWarning)
  }
})
