'use strict'
// HandleMap is a Map: the same answers, in the same order, for the same program.
const test = require('node:test')
const assert = require('node:assert/strict')
const { HandleMap } = require('..')

const modes = ['auto', 'all', 'sampled', 'off']

function fresh (options = {}) {
  return new HandleMap({ strict: false, ...options })
}

for (const callSites of modes) {
  test(`[${callSites}] set returns the map, get/has/delete/size behave like Map`, () => {
    const map = fresh({ callSites, sampleRate: 2 })
    assert.equal(map.set('a', 1), map)
    assert.equal(map.get('a'), 1)
    assert.equal(map.has('a'), true)
    assert.equal(map.has('b'), false)
    assert.equal(map.get('b'), undefined)
    assert.equal(map.size, 1)
    assert.equal(map.delete('a'), true)
    assert.equal(map.delete('a'), false)
    assert.equal(map.size, 0)
    map.set('u', undefined)
    assert.equal(map.has('u'), true)
    assert.equal(map.get('u'), undefined)
    map.close()
  })

  test(`[${callSites}] any value is a key: objects by identity, NaN, -0 and +0 as one`, () => {
    const map = fresh({ callSites })
    const object = {}
    const fn = () => {}
    const symbol = Symbol('s')
    map.set(object, 'object').set(fn, 'fn').set(symbol, 'symbol').set(NaN, 'nan').set(-0, 'zero')
    map.set(null, 'null').set(undefined, 'undefined').set(10n, 'bigint').set('1', 'string one').set(1, 'number one')
    assert.equal(map.get(object), 'object')
    assert.equal(map.get({}), undefined)
    assert.equal(map.get(fn), 'fn')
    assert.equal(map.get(symbol), 'symbol')
    assert.equal(map.get(NaN), 'nan')
    assert.equal(map.get(0), 'zero')
    assert.equal(map.get(-0), 'zero')
    assert.equal(map.get(null), 'null')
    assert.equal(map.get(undefined), 'undefined')
    assert.equal(map.get(10n), 'bigint')
    assert.equal(map.get('1'), 'string one')
    assert.equal(map.get(1), 'number one')
    const zeroKey = [...map.keys()].find(k => k === 0)
    assert.ok(Object.is(zeroKey, 0), '-0 is stored as +0, like Map')
    map.set(0, 'plus zero')
    assert.equal(map.get(-0), 'plus zero')
    assert.equal(map.size, 10)
    map.close()
  })

  test(`[${callSites}] insertion order is iteration order; overwriting keeps the place`, () => {
    const map = fresh({ callSites })
    map.set('a', 1).set('b', 2).set('c', 3)
    map.set('a', 10)
    map.delete('b')
    map.set('b', 20)
    assert.deepEqual([...map], [['a', 10], ['c', 3], ['b', 20]])
    assert.deepEqual([...map.keys()], ['a', 'c', 'b'])
    assert.deepEqual([...map.values()], [10, 3, 20])
    assert.deepEqual([...map.entries()], [['a', 10], ['c', 3], ['b', 20]])
    const seen = []
    const thisArg = {}
    map.forEach(function (value, key, self) {
      assert.equal(this, thisArg)
      assert.equal(self, map)
      seen.push([key, value])
    }, thisArg)
    assert.deepEqual(seen, [['a', 10], ['c', 3], ['b', 20]])
    map.close()
  })

  test(`[${callSites}] mutation during iteration: deleted entries are skipped, added ones visited`, () => {
    const map = fresh({ callSites })
    const plain = new Map()
    for (const m of [map, plain]) m.set(1, 'a').set(2, 'b').set(3, 'c')
    const run = m => {
      const visited = []
      for (const [key, value] of m) {
        visited.push(key)
        if (key === 1) { m.delete(2); m.set(4, 'd') }
        if (key === 3) m.set(1, 'again') // existing key: not revisited
        if (key === 4) m.set(5, value + '!')
      }
      return visited
    }
    assert.deepEqual(run(map), run(plain))
    assert.deepEqual([...map], [...plain])
    const values = []
    const forEachPlain = []
    map.forEach((value, key) => { values.push(value); if (key === 1) map.delete(3) })
    plain.forEach((value, key) => { forEachPlain.push(value); if (key === 1) plain.delete(3) })
    assert.deepEqual(values, forEachPlain)
    map.close()
  })

  test(`[${callSites}] clear during iteration ends it; the map is reusable`, () => {
    const map = fresh({ callSites })
    map.set('x', 1).set('y', 2)
    const visited = []
    for (const [key] of map) { visited.push(key); map.clear() }
    assert.deepEqual(visited, ['x'])
    assert.equal(map.size, 0)
    map.set('z', 3)
    assert.deepEqual([...map], [['z', 3]])
    assert.equal(map.report().live, 1)
    map.close()
  })
}

test('constructor takes entries like Map, and options after them', () => {
  const map = new HandleMap([[1, 'one'], [2, 'two']], { name: 'from-entries', strict: false })
  assert.deepEqual([...map], [[1, 'one'], [2, 'two']])
  assert.equal(map.name, 'from-entries')
  assert.equal(map.report().inserts, 2)
  assert.throws(() => new HandleMap([1]), TypeError)
  assert.throws(() => new HandleMap('ab'), TypeError)
  map.close()
})

test('toStringTag, iterator protocol and inspect', () => {
  const map = new HandleMap({ name: 'tagged', strict: false })
  map.set('k', 'v')
  assert.equal(Object.prototype.toString.call(map), '[object HandleMap]')
  assert.equal(map[Symbol.iterator]().next().value[0], 'k')
  assert.equal(typeof map.entries().next, 'function')
  for (const iterator of [map.keys(), map.values(), map.entries(), map[Symbol.iterator]()]) {
    assert.equal(Object.prototype.toString.call(iterator), '[object Map Iterator]')
    assert.equal(iterator[Symbol.iterator](), iterator)
  }
  const values = map.values()
  assert.deepEqual(values.next(), { value: 'v', done: false })
  assert.deepEqual(values.next(), { value: undefined, done: true })
  assert.deepEqual(values.next(), { value: undefined, done: true })
  assert.match(require('node:util').inspect(map), /HandleMap\(1\) "tagged" \{ 'k' => 'v' \}/)
  assert.throws(() => map.forEach(null), TypeError)
  map.close()
})

// A small deterministic generator: failures replay with the printed seed.
function random (seed) {
  let s = seed >>> 0 || 1
  return n => {
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    return s % n
  }
}

for (const callSites of modes) {
  test(`[${callSites}] randomized model test: thousands of operations, same results and order as Map`, () => {
    for (const seed of [1, 7, 42]) {
      const rand = random(seed)
      const map = fresh({ callSites, sampleRate: 3 })
      const model = new Map()
      const objects = [{}, {}, [], () => {}]
      const keys = [0, -0, 1, 2, 3, NaN, 'a', 'b', '1', null, undefined, ...objects, Symbol.for('s')]
      for (let step = 0; step < 4000; step++) {
        const key = keys[rand(keys.length)]
        const value = rand(1000)
        const op = rand(10)
        const where = `seed ${seed} step ${step} op ${op}`
        if (op < 4) {
          assert.equal(map.set(key, value), map, where)
          model.set(key, value)
        } else if (op < 6) {
          assert.equal(map.delete(key), model.delete(key), where)
        } else if (op === 6) {
          assert.equal(map.get(key), model.get(key), where)
          assert.equal(map.has(key), model.has(key), where)
        } else if (op === 7 && rand(40) === 0) {
          map.clear()
          model.clear()
        } else if (op === 8) {
          assert.equal(map.touch(key), model.has(key), where)
        } else {
          assert.equal(map.size, model.size, where)
        }
        if (step % 500 === 0) assert.deepEqual([...map], [...model], where)
      }
      assert.deepEqual([...map], [...model])
      const report = map.report()
      assert.equal(report.live, model.size)
      assert.equal(report.live, report.inserts - report.removes - report.expired)
      map.close()
    }
  })
}

test('no own state shows: JSON, Object.keys, spreading and structuredClone see what they see of a Map', () => {
  const map = new HandleMap({ name: 'opaque', ttl: 60_000, strict: false })
  const reference = new Map()
  for (const [key, value] of [['a', { id: 1 }], [2, 'two']]) {
    map.set(key, value)
    reference.set(key, value)
  }
  // A logger serialising a context that holds the map must not throw
  // (timers and WeakRefs inside would make JSON.stringify circular).
  assert.equal(JSON.stringify({ handles: map }), JSON.stringify({ handles: reference }))
  assert.deepEqual(Object.keys(map), Object.keys(reference))
  assert.deepEqual(Object.getOwnPropertyNames(map), Object.getOwnPropertyNames(reference))
  assert.deepEqual({ ...map }, { ...reference })
  assert.deepEqual(structuredClone(map), {})
  map.close()
})

test('maxSize refuses a new key with RangeError and changes nothing', () => {
  const map = new HandleMap({ maxSize: 2, strict: false })
  map.set('a', 1).set('b', 2)
  assert.throws(() => map.set('c', 3), { name: 'RangeError', message: /maxSize 2/ })
  assert.deepEqual([...map], [['a', 1], ['b', 2]])
  map.set('a', 10) // overwriting is not growing
  assert.equal(map.get('a'), 10)
  assert.equal(map.report().inserts, 2)
  map.close()
})

test('info and touch', () => {
  let now = 1_000
  const map = new HandleMap({ ttl: 500, clock: () => now, strict: false })
  assert.equal(map.info('missing'), undefined)
  assert.equal(map.touch('missing'), false)
  map.set('k', 'v') // this line is the site
  const line = Number(new Error().stack.split('\n')[1].match(/:(\d+):\d+\)?$/)[1]) - 1
  now = 1_200
  const info = map.info('k')
  assert.equal(info.insertedAt, 1_000)
  assert.equal(info.ageMs, 200)
  assert.equal(info.expiresInMs, 300)
  assert.match(info.site, new RegExp(`map-semantics\\.test\\.js:${line}:\\d+\\)$`))
  assert.ok(Array.isArray(info.stack) && info.stack[0] === info.site)
  assert.equal(map.touch('k'), true)
  assert.equal(map.info('k').expiresInMs, 500)
  assert.equal(map.info('k').ageMs, 200)
  map.close()
})
