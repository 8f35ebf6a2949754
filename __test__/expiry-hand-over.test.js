'use strict'
// The hand-over between the ledger and the map: an expiry is decided in Rust
// and carried out in JavaScript, and anything that cuts the span between the
// two short (the stack's edge above all) must neither lose an entry the user
// did not remove nor let the two halves drift apart.

const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const { spawnSync } = require('node:child_process')
const { HandleMap } = require('..')
const { callNearStackEdge, firstWorking, sweepStackEdge } = require('./support/stack-edge.js')

let serial = 0
const uniqueName = prefix => `${prefix}-${process.pid}-${++serial}`
const TTL = 100

// A map on a fake clock, and what it must hold: every key the user set and
// did not delete is either in the map or was handed to onExpire, once, with
// its value, no earlier than its TTL allows.
function scene () {
  const clock = { now: 1_000_000 }
  const model = new Map() // key -> { value, insertedAt }: what the map must hold
  const faults = []
  const onExpire = ({ key, value }) => {
    // Checked as it happens (an assertion thrown here would only become a warning).
    const expected = model.get(key)
    if (expected === undefined) faults.push(`${util.inspect(key)} expired but was not live (or expired twice)`)
    else if (expected.value !== value) faults.push(`${util.inspect(key)} expired with another entry's value`)
    else if (clock.now < expected.insertedAt + TTL) faults.push(`${util.inspect(key)} expired early`)
    model.delete(key)
  }
  const map = new HandleMap({
    name: uniqueName('hand-over'),
    ttl: TTL,
    callSites: 'all',
    strict: false,
    flushInterval: 60_000,
    clock: () => clock.now,
    onExpire
  })
  // `midway`: right after an operation cut short, an expired entry may still
  // wait for its hand-over (the next tick or purge delivers it).
  const check = (where, midway = false) => {
    assert.deepEqual(faults, [], where)
    for (const [key, { value }] of model) {
      if (midway && !map.has(key)) continue
      assert.ok(map.has(key), `${where}: ${util.inspect(key)} was lost (neither in the map nor handed to onExpire)`)
      assert.equal(map.get(key), value, `${where}: ${util.inspect(key)} holds another value`)
    }
    for (const [key] of map) assert.ok(model.has(key), `${where}: ${util.inspect(key)} is in the map but was deleted or expired`)
    if (!midway) assert.equal(map.size, model.size, `${where}: size`)
    assert.equal(map.report().live, map.size, `${where}: the ledger's live count`)
  }
  const set = (key, value) => {
    const live = model.get(key)
    map.set(key, value)
    if (live !== undefined) live.value = value
    else model.set(key, { value, insertedAt: clock.now })
  }
  const remove = key => { map.delete(key); model.delete(key) }
  return { clock, map, model, check, set, remove }
}

test('an expiry cut short at any point of its hand-over loses no entry, and the map keeps working', () => {
  const { clock, map, check, set, remove } = scene()
  // Optimized code, as in a server that has run for a while.
  for (let i = 0; i < 20_000; i++) { map.set(`warm${i}`, i); map.delete(`warm${i}`) }
  let round = 0
  const purgeAtEdge = (back, slack) => {
    round++
    for (let i = 0; i < 6; i++) set(`r${round}k${i}`, `v${round}.${i}`)
    clock.now += TTL / 2
    for (let i = 6; i < 9; i++) set(`r${round}k${i}`, `v${round}.${i}`)
    clock.now += TTL / 2 + 1 // k0..k5 are due, k6..k8 are not
    const outcome = callNearStackEdge(back, slack, () => map.purgeExpired())
    const where = `purgeExpired at ${back} frames + ${slack} words (${outcome.error === undefined ? 'completed' : `threw ${outcome.error}`})`
    if (outcome.error !== undefined) assert.ok(outcome.error instanceof RangeError, where)
    check(where, true)
    // What a desync once did: the next deletes were refused by a ledger that
    // thought their slots free, and a later expiry took a live key.
    remove(`r${round}k7`)
    set(`r${round}k8`, 'overwritten')
    set(`r${round}new`, 'fresh')
    check(`${where}, then deletes and sets`, true)
    clock.now += TTL + 1
    map.purgeExpired() // on a normal stack: everything due is handed over now
    check(`${where}, then a purge`)
    return outcome.error === undefined
  }
  sweepStackEdge(purgeAtEdge, 200)
  // Two new keys in two slots, each with its own value.
  map.set('x', 'X')
  map.set('y', 'Y')
  assert.equal(map.get('x'), 'X')
  assert.equal(map.get('y'), 'Y')
  map.close()
})

test('random operations with the stack exhausted at random points agree with a Map model and the ledger', () => {
  let seed = 20261207
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const { clock, map, check, set, remove, model } = scene()
  for (let i = 0; i < 20_000; i++) { map.set(`warm${i}`, i); map.delete(`warm${i}`) }
  const back = firstWorking(0, 4096, b => callNearStackEdge(b, 0, () => map.purgeExpired()).error === undefined)
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`)
  for (let step = 0; step < 3000; step++) {
    const key = keys[Math.floor(random() * keys.length)]
    const slack = Math.floor(random() * 600)
    const op = random()
    let operate
    let mirror
    if (op < 0.4) {
      const value = `v${step}`
      operate = () => map.set(key, value)
      mirror = () => { map.delete(key); set(key, value) } // the same, on the model and on the map again
    } else if (op < 0.6) {
      operate = () => map.delete(key)
      mirror = () => remove(key)
    } else if (op < 0.85) {
      clock.now += Math.floor(random() * TTL)
      operate = () => map.purgeExpired()
      mirror = () => {}
    } else {
      operate = () => map.report()
      mirror = () => {}
    }
    const edge = random() < 0.5
    const outcome = edge ? callNearStackEdge(back, slack, operate) : { value: operate() }
    if (outcome.error === undefined) mirror()
    else assert.ok(outcome.error instanceof RangeError, `step ${step}: ${outcome.error}`)
    if (step % 50 === 0 || outcome.error !== undefined) check(`step ${step}`, true)
  }
  clock.now += TTL + 1
  map.purgeExpired()
  check('the end')
  assert.equal(model.size, 0)
  assert.equal(map.size, 0)
  assert.equal(map.report().live, 0)
  map.close()
})

test('a ledger that refuses a batch is rebuilt from the map: no entry lost, the report says when', () => {
  const nativeLedgerOf = require('../lib/map/handle-map.js').internals.nativeLedger
  const warnings = []
  const onWarning = warning => { if (warning.code === 'HANDLE_LEDGER_RESYNC') warnings.push(warning) }
  process.on('warning', onWarning)
  const clock = { now: 5_000 }
  const map = new HandleMap({ name: uniqueName('refused'), ttl: 1000, callSites: 'all', strict: false, flushInterval: 60_000, clock: () => clock.now })
  try {
    map.set('a', 1)
    map.set('b', 2)
    assert.equal(map.report().live, 2)
    // The ledger frees slot 0 behind the map's back: from now on the two disagree.
    nativeLedgerOf(map).drain(new Int32Array([0 << 3 | 2]), 1, clock.now, -1, false)
    map.delete('a') // a remove of a slot the ledger thinks free: refused
    map.set('c', 3)
    clock.now += 10
    const report = map.report()
    assert.equal(report.live, 2, 'the ledger counts what the map holds')
    assert.deepEqual(report.reset, { count: 1, at: clock.now })
    assert.deepEqual([...map.keys()], ['b', 'c'])
    clock.now += 1000
    assert.equal(map.purgeExpired(), 2, 'both expire, neither early')
    assert.equal(map.size, 0)
    map.set('x', 'X')
    map.set('y', 'Y')
    assert.equal(map.get('x'), 'X')
    assert.equal(map.report().live, 2)
  } finally {
    process.off('warning', onWarning)
    map.close()
  }
})

test('a warning about an entry whose insert was not sampled names the sites whose entries expire (estimated), never "(site not recorded)"', async () => {
  const warnings = []
  const onWarning = warning => { if (warning.name === 'HandleLeakWarning') warnings.push(warning) }
  process.on('warning', onWarning)
  const clock = { now: 10_000 }
  let seed = 3
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647)
  const map = new HandleMap({ name: uniqueName('unsampled'), ttl: 100, callSites: 'sampled', sampleRate: 20, random, strict: true, flushInterval: 60_000, clock: () => clock.now })
  const leakyLine = lineOf(() => {})
  function leakyInsert (i) { map.set(i, i) } // the line the warning must name
  try {
    for (let i = 0; i < 200; i++) leakyInsert(i)
    clock.now += 200
    assert.equal(map.purgeExpired(), 200)
    await new Promise(resolve => setImmediate(resolve))
    assert.ok(warnings.length >= 2, `a warning for a sampled entry and one for the others (${warnings.length})`)
    for (const warning of warnings) assert.doesNotMatch(`${warning.message}\n${warning.detail}`, /site not recorded/)
    const unsampled = warnings.find(warning => warning.site === null)
    assert.ok(unsampled !== undefined, 'one warning is about an entry whose insert was not sampled')
    assert.match(unsampled.message, new RegExp(`inserted at ~leakyInsert \\(.*expiry-hand-over\\.test\\.js:${leakyLine + 1}:\\d+\\) \\(estimated: this insert was not sampled\\) expired`))
    assert.match(unsampled.detail, /callSites: 'all'/)
  } finally {
    process.off('warning', onWarning)
    map.close()
  }
})

test('with no recorded site expiring yet, the warning says plainly that sampling missed it and how to record every insert', async () => {
  const warnings = []
  const onWarning = warning => { if (warning.name === 'HandleLeakWarning') warnings.push(warning) }
  process.on('warning', onWarning)
  const clock = { now: 10_000 }
  const map = new HandleMap({ name: uniqueName('unsampled-alone'), ttl: 100, callSites: 'sampled', sampleRate: 1000, random: () => 0.999, strict: true, flushInterval: 60_000, clock: () => clock.now })
  try {
    map.set('only', 1)
    clock.now += 200
    assert.equal(map.purgeExpired(), 1)
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(warnings.length, 1)
    assert.match(warnings[0].message, /inserted at a site sampling did not record expired/)
    assert.match(warnings[0].detail, /Set callSites: 'all' \(or HANDLE_LEDGER_CALLSITES=all\) to record every insert/)
  } finally {
    process.off('warning', onWarning)
    map.close()
  }
})

/** The line of the function `marker`'s definition (the caller's source line). */
function lineOf (marker) {
  const holder = {}
  Error.captureStackTrace(holder, lineOf)
  return Number(/:(\d+):\d+\)?$/.exec(holder.stack.split('\n')[1])[1])
}

test('onExpire that purges again, or that is handed entries expiring meanwhile: each entry handed over once', () => {
  const clock = { now: 0 }
  const seen = []
  const nested = []
  const map = new HandleMap({
    name: uniqueName('reentrant'),
    ttl: TTL,
    strict: false,
    clock: () => clock.now,
    onExpire: entry => {
      seen.push(entry.key)
      if (entry.key === 'a') {
        // Due by now: expires during the delivery of 'a'.
        map.set('late', 0)
        clock.now += TTL
        nested.push(map.purgeExpired())
      }
    }
  })
  try {
    for (const key of ['a', 'b', 'c']) map.set(key, key)
    clock.now += TTL
    const handed = map.purgeExpired()
    assert.deepEqual(nested, [0], 'the purge inside onExpire leaves the delivery to the one under way')
    assert.deepEqual(seen.slice(0, 3), ['a', 'b', 'c'])
    assert.equal(new Set(seen).size, seen.length, `no entry twice: ${seen}`)
    // 'late' is handed over by this purge (queued meanwhile) or the next.
    const later = map.purgeExpired()
    assert.deepEqual(seen.sort(), ['a', 'b', 'c', 'late'])
    assert.equal(handed + later, 4)
    assert.equal(map.size, 0)
  } finally {
    map.close()
  }
})

test('an entry handed over is not kept alive by the queue', () => {
  // In a child with --expose-gc: the values of a delivered batch become
  // garbage once onExpire lets go of them.
  const child = spawnSync(process.execPath, ['--expose-gc', '-e', `
    const { HandleMap } = require(${JSON.stringify(require.resolve('..'))})
    let now = 0
    const refs = []
    const map = new HandleMap({ ttl: 10, strict: false, clock: () => now, onExpire: entry => refs.push(new WeakRef(entry.value)) })
    for (let i = 0; i < 1000; i++) map.set(i, { payload: new Array(100).fill(i) })
    now = 20
    if (map.purgeExpired() !== 1000) throw new Error('not all expired')
    setImmediate(() => {
      globalThis.gc()
      const alive = refs.filter(ref => ref.deref() !== undefined).length
      console.log(alive)
      map.close()
    })
  `], { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), '0', 'values of handed-over entries were collected')
})
