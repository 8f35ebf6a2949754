'use strict'
// Faults found by an adversarial pass over the public API, the timers and
// the clock: each test here failed before its fix.

const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const { HandleMap, leakCheck, registry } = require('..')

let serial = 0
const uniqueName = prefix => `${prefix}-${process.pid}-${++serial}`

// ---- the stack's edge --------------------------------------------------------

const UNWIND = Symbol('unwind')

// Called with `slack` extra arguments, which take 8 bytes of stack each.
function padded () {
  return arguments[0]()
}

/**
 * Recurses until the stack overflows, unwinds `back` frames, and calls `fn`
 * there with `slack` words less stack: `{ value }` or `{ error }`. Sweeping
 * `slack` word by word makes `fn` meet the overflow at each call it makes.
 */
function callNearStackEdge (back, slack, fn) {
  const args = new Array(slack + 1).fill(0)
  args[0] = fn
  let remaining = back
  let outcome
  function dive () {
    try {
      dive()
    } catch (error) {
      if (outcome !== undefined) return
      if (error !== UNWIND && !(error instanceof RangeError)) throw error
      if (remaining-- > 0) throw UNWIND
      try {
        outcome = { value: Reflect.apply(padded, null, args) }
      } catch (thrown) {
        outcome = { error: thrown }
      }
    }
  }
  dive()
  return outcome
}

/** Smallest integer in [low, high] for which `works` holds (`works` is monotonic enough). */
function firstWorking (low, high, works) {
  while (low < high) {
    const mid = (low + high) >> 1
    if (works(mid)) high = mid
    else low = mid + 1
  }
  return low
}

function assertSameEntries (map, model, where) {
  const actual = [...map.entries()]
  const expected = [...model.entries()]
  assert.equal(actual.length, expected.length, `${where}: size`)
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Object.is(actual[i][0], expected[i][0]) && Object.is(actual[i][1], expected[i][1]),
      `${where}: entry ${i} is ${util.inspect(actual[i])}, expected ${util.inspect(expected[i])}`)
  }
}

const KEYS = ['a', 'b', 'c', 'd']
const MUTATORS = {
  'set (insert)': (map, i) => { const key = KEYS[i % KEYS.length]; return [() => map.set(key, i), model => model.set(key, i), () => !map.has(key)] },
  'set (overwrite)': (map, i) => { const key = KEYS[i % KEYS.length]; return [() => map.set(key, -i), model => model.set(key, -i), () => map.has(key)] },
  delete: (map, i) => { const key = KEYS[i % KEYS.length]; return [() => map.delete(key), model => model.delete(key), () => map.has(key)] },
  touch: (map, i) => { const key = KEYS[i % KEYS.length]; return [() => map.touch(key), () => {}, () => map.has(key)] },
  clear: map => [() => map.clear(), model => model.clear(), () => true]
}

for (const callSites of ['all', 'sampled', 'off']) {
  test(`set, delete, clear and touch complete or leave no trace at the stack's edge ('${callSites}')`, () => {
    const clock = { now: 1_000_000 }
    const expired = []
    const map = new HandleMap({
      name: uniqueName('edge'), ttl: 1000, callSites, sampleRate: 2, strict: false, flushInterval: 60_000,
      clock: () => clock.now, onExpire: entry => expired.push([entry.key, entry.value])
    })
    const model = new Map()
    const outcomes = { completed: 0, threw: 0 }
    let round = 0
    // One checked attempt of mutator `name` near the stack's edge, on an
    // empty log or (`fullLog`) on a log the operation must hand over first.
    const attempt = (name, fullLog, back, slack) => {
      const key = KEYS[round++ % KEYS.length]
      if (name !== 'set (insert)' && !map.has(key)) { map.set(key, 'seed'); model.set(key, 'seed') }
      if (name === 'set (insert)' && map.has(key)) { map.delete(key); model.delete(key) }
      map.info(key) // drains: the log is empty
      if (fullLog) for (let i = 0; i < 8184; i++) map.touch(map.keys().next().value)
      clock.now += 1
      const [operate, mirror, applies] = MUTATORS[name](map, round - 1)
      assert.ok(applies(), `${name}: precondition`)
      const outcome = callNearStackEdge(back, slack, operate)
      const where = `${name} at ${back} frames + ${slack} words from the edge${fullLog ? ', full log' : ''} (${outcome.error === undefined ? 'completed' : `threw ${outcome.error}`})`
      if (outcome.error === undefined) {
        outcomes.completed++
        mirror(model)
      } else {
        outcomes.threw++
        assert.ok(outcome.error instanceof RangeError, where)
      }
      assertSameEntries(map, model, where)
      const report = map.report()
      assert.equal(report.live, map.size, `${where}: the ledger's live count`)
      for (const [k] of model) assert.ok(map.info(k) !== undefined, `${where}: the ledger knows ${k}`)
      return outcome.error === undefined
    }
    // Optimized code, as in a server that has run for a while.
    for (let i = 0; i < 20_000; i++) { map.set(i, i); map.touch(i); map.delete(i) }
    for (const name of Object.keys(MUTATORS)) {
      for (const fullLog of [false, true]) {
        // Enough frames back for the operation to complete; then the most
        // slack it still completes with, and every word of slack beyond:
        // each call inside the operation meets the edge in turn.
        const back = firstWorking(0, 4096, b => attempt(name, fullLog, b, 0))
        const most = firstWorking(0, 20_000, s => !attempt(name, fullLog, back, s)) - 1
        for (let slack = Math.max(0, most - 4); slack < most + 160; slack++) attempt(name, fullLog, back, slack)
      }
    }
    assert.ok(outcomes.completed > 0 && outcomes.threw > 0, `the sweep reached both sides of the edge (${util.inspect(outcomes)})`)
    // What is live expires, each entry once, with its current value.
    for (const key of KEYS) { map.set(key, `last ${key}`); model.set(key, `last ${key}`) }
    clock.now += 2000
    assert.equal(map.purgeExpired(), model.size)
    assert.deepEqual(expired.sort(), [...model.entries()].sort())
    assert.equal(map.size, 0)
    map.close()
  })
}
