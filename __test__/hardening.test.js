'use strict'
// Faults found by an adversarial pass over the public API, the timers and
// the clock: each test here failed before its fix.

const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const { HandleMap, leakCheck, registry } = require('..')
const { callNearStackEdge, sweepStackEdge } = require('./support/stack-edge.js')

let serial = 0
const uniqueName = prefix => `${prefix}-${process.pid}-${++serial}`

// ---- the stack's edge --------------------------------------------------------

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
      name: uniqueName('edge'),
      ttl: 1000,
      callSites,
      sampleRate: 2,
      strict: false,
      flushInterval: 60_000,
      clock: () => clock.now,
      onExpire: entry => expired.push([entry.key, entry.value])
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
        sweepStackEdge((back, slack) => attempt(name, fullLog, back, slack), 160)
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

// ---- what user callbacks throw --------------------------------------------------

/** Values a callback may throw that break a naive `error.message`. */
function hostileThrowables () {
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  const { proxy: revokedError } = (() => { const r = Proxy.revocable(new Error('x'), {}); r.revoke(); return r })()
  return {
    'a revoked Proxy': revoked.proxy,
    'a revoked Proxy of an Error': revokedError,
    'an object whose message getter throws': Object.defineProperty({}, 'message', { get () { throw new Error('getter') } }),
    'a Proxy whose every trap throws': new Proxy({}, { get () { throw new Error('trap') }, getPrototypeOf () { throw new Error('trap') }, has () { throw new Error('trap') } }),
    'a symbol': Symbol('thrown'),
    null: null,
    undefined,
    'an object whose toString throws': { message: undefined, toString () { throw new Error('toString') } }
  }
}

test('a throwing onExpire hands every due entry over, each error a warning described defensively', async () => {
  for (const [what, thrown] of Object.entries(hostileThrowables())) {
    const clock = { now: 1000 }
    const seen = []
    const map = new HandleMap({
      name: uniqueName('throwing-onexpire'),
      ttl: 100,
      strict: false,
      flushInterval: 60_000,
      clock: () => clock.now,
      onExpire: entry => { seen.push(entry.key); throw thrown }
    })
    const warnings = []
    const onWarning = warning => { if (warning.message.includes(map.name)) warnings.push(warning.message) }
    process.on('warning', onWarning)
    try {
      for (const key of ['a', 'b', 'c', 'd']) map.set(key, key)
      clock.now += 100
      assert.equal(map.purgeExpired(), 4, what)
      assert.deepEqual(seen, ['a', 'b', 'c', 'd'], `${what}: every due entry reached onExpire`)
      assert.equal(map.size, 0, what)
      await new Promise(resolve => setImmediate(resolve)) // warnings are emitted on the next tick
      assert.equal(warnings.length, 4, `${what}: one warning per error`)
      for (const message of warnings) assert.match(message, /onExpire threw for an entry inserted at .+: \S/, what)
    } finally {
      process.off('warning', onWarning)
      map.close()
    }
  }
})

test('nothing onExpire or clock throws escapes the map\'s timer', () => {
  // In a child: an exception escaping a timer would kill it.
  const script = `
    const { HandleMap } = require(${JSON.stringify(require.resolve('..'))})
    const revoked = () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy }
    const getterThrows = () => Object.defineProperty({}, 'message', { get () { throw new Error('getter') } })
    let warnings = 0
    process.on('warning', () => { warnings++ })
    let expired = 0
    const maps = []
    for (const thrown of [revoked, getterThrows]) {
      maps.push(new HandleMap({ ttl: 5, flushInterval: 2, strict: false, onExpire: () => { expired++; throw thrown() } }))
      let calls = 0
      // The clock works for the constructor and the first inserts, then throws.
      maps.push(new HandleMap({ ttl: 5, flushInterval: 2, strict: false, clock: () => { if (++calls > 3) throw thrown(); return 1000 + calls } }))
    }
    for (const map of maps) { map.set('a', 1); map.set('b', 2) }
    setTimeout(() => { console.log(JSON.stringify({ expired, warnings })) }, 300)
  `
  const { spawnSync } = require('node:child_process')
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(child.status, 0, `the child died: ${child.stderr}`)
  const { expired, warnings } = JSON.parse(child.stdout)
  assert.equal(expired, 4, 'every entry of the onExpire maps reached onExpire')
  assert.ok(warnings >= 6, `each failure was a warning (${warnings})`)
})

// ---- drop-in behaviour ------------------------------------------------------------

test('inspect shows a map that contains itself as [Circular] and keeps to the depth left', () => {
  const map = new HandleMap({ name: uniqueName('circular') })
  map.set('self', map)
  map.set('deep', { a: { b: { c: { d: 1 } } } })
  const shown = util.inspect(map)
  assert.ok(shown.length < 200, `${shown.length} characters`)
  assert.match(shown, /'self' => \[Circular\]/)
  assert.match(shown, /'deep' => \{ a: \{ b: \[Object\] \} \}/) // as a Map at depth 2
  assert.equal(util.inspect({ x: { y: map } }, { depth: 1 }), '{ x: { y: [HandleMap] } }')
  assert.doesNotMatch(util.inspect([map], { depth: 1 }), /d: 1/)
  map.close()
})

test('a subclass\'s own helper methods do not change what the map does', () => {
  const names = ['_set', '_now', '_flush', '_tick', '_drain', '_stamp', '_expire', '_freeEntry', '_reserveLog', '_deferLog', '_startTicking', '_unregister', '_takeFreeSlot', '_handOver', '_oldestSlot']
  class Mine extends HandleMap {}
  for (const name of names) Mine.prototype[name] = function () { return 'not a number' }
  const clock = { now: 1000 }
  const mine = new Mine([['a', 1], ['b', 2]], { name: uniqueName('subclass'), ttl: 50, clock: () => clock.now, strict: false, flushInterval: 60_000 })
  assert.equal(mine.size, 2)
  mine.set('c', 3)
  assert.deepEqual([...mine], [['a', 1], ['b', 2], ['c', 3]])
  assert.ok(mine.delete('a'))
  assert.equal(mine.report().live, 2)
  assert.equal(mine.info('b').ageMs, 0)
  clock.now += 50
  assert.equal(mine.purgeExpired(), 2)
  assert.equal(mine.size, 0)
  mine.close()
})

test('a name with a lone surrogate is refused: the ledger could not store it as given', () => {
  for (const name of ['a\uD800b', 'end\uDFFF', '\uDC00\uD800']) {
    assert.throws(() => new HandleMap({ name }), TypeError, JSON.stringify(name))
  }
  // Paired surrogates are text, and leakCheck finds the map by that name.
  const name = `emoji \u{1F600} ${process.pid}`
  const map = new HandleMap({ name, strict: false })
  assert.equal(registry.report({ map: name }).maps.length, 1)
  let held = 0
  return leakCheck(() => { map.set(held++, 'kept') }, { maps: [map], iterations: 50, settleMs: 0 }).then(
    () => assert.fail('leakCheck missed the growth'),
    error => { assert.match(error.message, /\+\d+ live/); map.close() }
  )
})

test('toMap() is a plain Map copy, for what needs a real Map', () => {
  const map = new HandleMap([['a', 1], [2, { b: 2 }]], { name: uniqueName('to-map') })
  const copy = map.toMap()
  assert.ok(copy instanceof Map)
  assert.equal(Object.getPrototypeOf(copy), Map.prototype)
  assert.deepStrictEqual(copy, new Map([['a', 1], [2, { b: 2 }]]))
  assert.deepStrictEqual(structuredClone(copy), new Map([['a', 1], [2, { b: 2 }]]))
  copy.delete('a')
  assert.ok(map.has('a'), 'a copy, not a view')
  map.close()
})
