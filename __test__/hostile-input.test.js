'use strict'
// Hostile input gets a clear error and changes nothing.
//
// One table. Each row names a public function (or option), the input, and
// the expected outcome: an error class, or 'accepted'. Every row runs on a
// fresh map holding three entries under a controllable clock, and then checks
// - the outcome: the error is an instance of the stated class and its message
//   is not an internal error (no native panic text); or no error at all;
// - that nothing changed: the map's entries (keys by identity, in order), its
//   report figures and its entries' ages and deadlines are as before; for an
//   accepted row that changes the map, they are what a plain Map given the same
//   calls holds (the row's `mirror`), and live = inserts - removes - expired;
// - that the registry gained no map (a constructor that throws registers none).
//
// Expected classes: TypeError (wrong type), RangeError (right type, out of
// range), Boom (the caller's own exception, from a getter, trap, toString or
// callback, propagates unchanged), HandleLeakError (assertEmpty's own).
// A failing row is a bug; those this table found are listed in
// CHANGELOG.md.

const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { HandleMap, registry, formatReport, HandleLeakError, leakCheck } = require('..')
const { debugHandles } = require('../http.js')
const { callNearStackEdge } = require('./support/stack-edge.js')

class Boom extends Error {}
const boom = () => { throw new Boom('hostile input threw') }

// ---- hostile values ------------------------------------------------------------

const TRAPS = ['get', 'set', 'has', 'ownKeys', 'getPrototypeOf', 'getOwnPropertyDescriptor', 'defineProperty', 'deleteProperty', 'apply', 'construct', 'isExtensible', 'preventExtensions', 'setPrototypeOf']
const trapsThrow = () => new Proxy({}, Object.fromEntries(TRAPS.map(trap => [trap, boom])))
const benignProxy = () => new Proxy({}, {})
const toStringThrows = () => ({ toString: boom, valueOf: boom, [Symbol.toPrimitive]: boom })
const getterThrows = () => Object.defineProperty({}, 'value', { get: boom, enumerable: true })
const frozen = () => Object.freeze({ frozen: true, nested: Object.freeze([1, 2]) })
const inspectThrows = () => ({ [util.inspect.custom]: boom })
const tagThrows = () => Object.defineProperty({}, Symbol.toStringTag, { get: boom })
const optionsWithThrowingGetter = name => Object.defineProperty({}, name, { get: boom, enumerable: true })

// Values every option gets, with what each must give, unless the option overrides.
const COMMON = [
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['-1', -1],
  ['1e308', 1e308],
  ['Symbol()', Symbol('hostile')],
  ['10n', 10n],
  ['null', null],
  ['{}', {}],
  ['[]', []],
  ['a proxy whose traps throw', trapsThrow()],
  ['an object whose toString throws', toStringThrows()],
  ['new Number(5)', new Number(5)], // eslint-disable-line no-new-wrappers
  ['true', true]
]

// ---- the fixture --------------------------------------------------------------

let serial = 0

function fixture (options = {}) {
  const clock = { now: 1_000_000, mode: 'ok', value: 0 }
  clock.read = () => {
    if (clock.mode === 'throw') throw new Boom('clock() threw')
    if (clock.mode === 'value') return clock.value
    return clock.now
  }
  clock.reset = () => { clock.mode = 'ok' }
  const objectKey = { request: 1 }
  const entries = [['a', 1], [objectKey, 2], [NaN, 3]]
  const name = `hostile-${process.pid}-${++serial}`
  const map = new HandleMap(entries, { name, ttl: 10_000, clock: clock.read, strict: false, flushInterval: 60_000, callSites: 'all', ...options })
  const model = new Map(entries)
  return { map, model, clock, name, objectKey, counts: { inserts: 3, removes: 0, expired: 0 } }
}

/** Everything observable about a map that a hostile call must not change. */
function state (map) {
  const report = map.report({ limit: 100 })
  const entries = [...map.entries()]
  return {
    entries,
    size: map.size,
    figures: { live: report.live, inserts: report.inserts, removes: report.removes, expired: report.expired, overwrites: report.overwrites, oldestAgeMs: report.oldestAgeMs },
    info: entries.map(([key]) => {
      const info = map.info(key)
      return info && { insertedAt: info.insertedAt, ageMs: info.ageMs, expiresInMs: info.expiresInMs }
    })
  }
}

function sameEntries (actual, expected, where) {
  assert.equal(actual.length, expected.length, `${where}: number of entries`)
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Object.is(actual[i][0], expected[i][0]), `${where}: key ${i} differs`)
    assert.ok(Object.is(actual[i][1], expected[i][1]), `${where}: value ${i} differs`)
  }
}

function registryIds () {
  return registry.report({ limit: 0 }).maps.map(m => m.id)
}

function isExpected (error, expect) {
  const classes = Array.isArray(expect) ? expect : [expect]
  return classes.some(C => error instanceof C)
}

function className (expect) {
  return (Array.isArray(expect) ? expect : [expect]).map(C => (typeof C === 'function' ? C.name : String(C))).join(' or ')
}

// ---- the table --------------------------------------------------------------------
// { fn, input, expect: ErrorClass | [classes] | 'accepted', run(fx), mirror?(fx, result), check?(fx, result) }

const ROWS = []
const row = (fn, input, expect, run, extra = {}) => ROWS.push({ fn, input, expect, run, ...extra })
const construct = (input, expect, make, extra) => row('new HandleMap', input, expect, () => make(), extra)

// Options: for each, the values that must be refused or accepted.
const OPTION_SPECS = {
  name: {
    common: TypeError,
    cases: [
      ['""', '', RangeError],
      ['"a\\u0000b" (NUL)', 'a\u0000b', RangeError],
      ['"line\\nbreak"', 'line\nbreak', RangeError],
      ['"\\u001b[31mred" (ANSI escape)', '\u001b[31mred', RangeError],
      ['"\\u0085" (C1 control)', 'x\u0085', RangeError],
      ['"\\u007f" (DEL)', 'x\u007f', RangeError],
      ['10 KB of text', 'n'.repeat(10 * 1024), RangeError],
      ['201 characters', 'n'.repeat(201), RangeError],
      ['"a\\uD800b" (lone surrogate)', 'a\uD800b', TypeError],
      ['"\\uDFFF" (lone low surrogate)', '\uDFFF', TypeError],
      ['10 KB with control characters', '\r\n'.repeat(5 * 1024), RangeError],
      ['new String("x")', new String('x'), TypeError], // eslint-disable-line no-new-wrappers
      ['200 characters', 'n'.repeat(200), 'accepted'],
      ['unicode "名前 ✓ \\u{1F600}"', 'map 名前 ✓ \u{1F600}', 'accepted']
    ],
    override: { '-1': TypeError, NaN: TypeError, Infinity: TypeError, '-Infinity': TypeError, '1e308': TypeError }
  },
  ttl: {
    common: TypeError,
    override: { NaN: RangeError, Infinity: RangeError, '-Infinity': RangeError, '-1': RangeError, '1e308': RangeError },
    cases: [
      ['-0', -0, 'accepted'], ['0', 0, 'accepted'], ['0.5', 0.5, 'accepted'], ['2 ** 31 - 1', 2 ** 31 - 1, 'accepted'],
      ['Number.MAX_VALUE', Number.MAX_VALUE, RangeError], ['"100"', '100', TypeError], ['-1e-9', -1e-9, RangeError]
    ]
  },
  onExpire: {
    common: TypeError,
    override: {},
    cases: [
      ['"fn"', 'fn', TypeError], ['a proxy of a function', new Proxy(() => {}, {}), 'accepted'],
      ['a class', class Nope {}, 'accepted'], ['an async function', async () => {}, 'accepted']
    ]
  },
  callSites: {
    common: TypeError,
    override: {},
    cases: [
      ['"ALL"', 'ALL', RangeError], ['""', '', RangeError], ['"all "', 'all ', RangeError],
      ['new String("all")', new String('all'), TypeError], // eslint-disable-line no-new-wrappers
      ['"all"', 'all', 'accepted'], ['"sampled"', 'sampled', 'accepted'], ['"off"', 'off', 'accepted'], ['"auto"', 'auto', 'accepted']
    ]
  },
  captureBudget: {
    common: TypeError,
    override: { NaN: RangeError, Infinity: RangeError, '-Infinity': RangeError, '-1': RangeError, '1e308': RangeError },
    cases: [
      ['0', 0, RangeError], ['-0', -0, RangeError], ['1 + 2 ** -52', 1 + 2 ** -52, RangeError], ['"0.01"', '0.01', TypeError],
      ['Number.MIN_VALUE', Number.MIN_VALUE, 'accepted'], ['0.01', 0.01, 'accepted'], ['1', 1, 'accepted']
    ]
  },
  random: {
    common: TypeError,
    override: {},
    cases: [['"seeded"', 'seeded', TypeError], ['Math.random', Math.random, 'accepted'], ['() => 0', () => 0, 'accepted']]
  },
  sampleRate: {
    common: TypeError,
    override: { NaN: RangeError, Infinity: RangeError, '-Infinity': RangeError, '-1': RangeError, '1e308': RangeError },
    cases: [
      ['0', 0, RangeError], ['-0', -0, RangeError], ['1.5', 1.5, RangeError], ['2 ** 20 + 1', 2 ** 20 + 1, RangeError],
      ['"64"', '64', TypeError], ['1', 1, 'accepted'], ['2 ** 20', 2 ** 20, 'accepted']
    ]
  },
  stackDepth: {
    common: TypeError,
    override: { NaN: RangeError, Infinity: RangeError, '-Infinity': RangeError, '-1': RangeError, '1e308': RangeError },
    cases: [['0', 0, RangeError], ['-0', -0, RangeError], ['65', 65, RangeError], ['1.5', 1.5, RangeError], ['"8"', '8', TypeError], ['1', 1, 'accepted'], ['64', 64, 'accepted']]
  },
  maxSize: {
    common: TypeError,
    override: { NaN: RangeError, '-Infinity': RangeError, '-1': RangeError, '1e308': RangeError, Infinity: 'accepted' },
    cases: [['1.5', 1.5, RangeError], ['2 ** 28 + 1', 2 ** 28 + 1, RangeError], ['"10"', '10', TypeError], ['0', 0, 'accepted'], ['-0', -0, 'accepted'], ['2 ** 28', 2 ** 28, 'accepted']]
  },
  flushInterval: {
    common: TypeError,
    override: { NaN: RangeError, Infinity: RangeError, '-Infinity': RangeError, '-1': RangeError, '1e308': RangeError },
    cases: [['0', 0, RangeError], ['-0', -0, RangeError], ['60001', 60_001, RangeError], ['1.5', 1.5, RangeError], ['"10"', '10', TypeError], ['1', 1, 'accepted'], ['60000', 60_000, 'accepted']]
  },
  clock: {
    common: TypeError,
    override: {},
    cases: [
      ['"now"', 'now', TypeError],
      ['() => NaN', () => NaN, TypeError],
      ['() => -1', () => -1, TypeError],
      ['() => Infinity', () => Infinity, TypeError],
      ['() => "5"', () => '5', TypeError],
      ['() => 5n', () => 5n, TypeError],
      ['() => undefined', () => undefined, TypeError],
      ['a clock that throws', boom, Boom],
      ['() => -0', () => -0, 'accepted'],
      ['() => 1.5', () => 1.5, 'accepted'],
      ['Date.now', Date.now, 'accepted']
    ]
  },
  strict: {
    common: TypeError,
    override: {},
    cases: [['"true"', 'true', TypeError], ['1', 1, TypeError], ['0', 0, TypeError], ['true', true, 'accepted'], ['false', false, 'accepted']]
  }
}

for (const [option, spec] of Object.entries(OPTION_SPECS)) {
  const cases = [
    ...COMMON.filter(([label]) => !(option === 'strict' && label === 'true')).map(([label, value]) => [label, value, label in spec.override ? spec.override[label] : spec.common]),
    ...spec.cases
  ]
  for (const [label, value, expect] of cases) {
    construct(`{ ${option}: ${label} }`, expect, () => new HandleMap({ [option]: value, ...(option === 'strict' ? {} : { strict: false }) }))
  }
  construct(`{ ${option}: a getter that throws }`, Boom, () => new HandleMap(optionsWithThrowingGetter(option)))
}

// The options argument itself.
construct('options null', TypeError, () => new HandleMap(null, null))
construct('options 5', TypeError, () => new HandleMap(5))
construct('options Symbol()', TypeError, () => new HandleMap(Symbol('options')))
construct('options true', TypeError, () => new HandleMap(true))
construct('options a function', TypeError, () => new HandleMap(() => {}))
construct('options with an unknown key { tll: 5 }', TypeError, () => new HandleMap({ tll: 5 }))
construct('options with an unknown key "__proto__" own property', TypeError, () => new HandleMap(JSON.parse('{"__proto__": {"ttl": 5}}')))
construct('options a proxy whose traps throw', Boom, () => new HandleMap(trapsThrow()))
construct('options a benign proxy', 'accepted', () => new HandleMap(new Proxy({ strict: false }, {})))
construct('options frozen', 'accepted', () => new HandleMap(Object.freeze({ ttl: 5, strict: false })))
construct('options with a Symbol key (ignored)', 'accepted', () => new HandleMap({ [Symbol('x')]: 1, strict: false }))
construct('options with an inherited ttl', 'accepted', () => new HandleMap(Object.create({ ttl: 5 })))
construct('entries {} with options (not iterable)', TypeError, () => new HandleMap({}, { strict: false }))
construct('without new', TypeError, () => HandleMap({ strict: false }))

// Entries, like Map's constructor; a constructor that throws must leave no map
// behind in the registry.
construct('entries [[1, "a"], 5] (5 is not an entry)', TypeError, () => new HandleMap([[1, 'a'], 5], { name: 'ctor-bad-entry', strict: false }))
construct('entries "ab" (a string is iterable, its items are not entries)', TypeError, () => new HandleMap('ab', { name: 'ctor-string', strict: false }))
construct('entries whose iterator throws on the 2nd item', Boom, () => new HandleMap({
  * [Symbol.iterator] () { yield ['k', 1]; boom() }
}, { name: 'ctor-iterator-throws', strict: false }))
construct('entries whose Symbol.iterator getter throws', Boom, () => new HandleMap(Object.defineProperty({}, Symbol.iterator, { get: boom }), { strict: false }))
construct('entries with an entry whose [0] getter throws', Boom, () => new HandleMap([[1, 1], Object.defineProperty([], 0, { get: boom })], { name: 'ctor-entry-getter', strict: false }))
construct('3 entries with maxSize 2', RangeError, () => new HandleMap([[1, 1], [2, 2], [3, 3]], { maxSize: 2, name: 'ctor-full', strict: false }))
construct('entries with NaN, -0, a frozen object, a symbol, a throwing proxy', 'accepted', () => new HandleMap([[NaN, 1], [-0, 2], [frozen(), 3], [Symbol('s'), 4], [trapsThrow(), 5]], { strict: false }), {
  check: (fx, map) => {
    assert.equal(map.size, 5)
    assert.equal(map.get(NaN), 1)
    assert.ok(Object.is([...map.keys()][1], 0), '-0 is stored as +0, as Map does')
  }
})

// ---- methods, on the fixture map ---------------------------------------------------

const KEY_CASES = [
  ['NaN', () => NaN], ['-0', () => -0], ['Infinity', () => Infinity], ['-Infinity', () => -Infinity],
  ['Symbol()', () => Symbol('k')], ['Symbol.for("k")', () => Symbol.for('k')], ['Symbol.iterator', () => Symbol.iterator],
  ['a frozen object', frozen], ['a sealed object', () => Object.seal({ s: 1 })], ['a frozen array', () => Object.freeze([1])],
  ['a proxy whose traps throw', trapsThrow], ['a benign proxy', benignProxy], ['an object whose toString throws', toStringThrows],
  ['an object with a throwing getter', getterThrows], ['an object whose inspect.custom throws', inspectThrows],
  ['a null-prototype object', () => Object.create(null)], ['10 KB of text', () => 'k'.repeat(10 * 1024)],
  ['text with control characters', () => '\u0000\r\n\u001b[2J'], ['a huge BigInt', () => 2n ** 1000n],
  ['undefined', () => undefined], ['null', () => null], ['a function', () => function f () {}],
  ['1e308', () => 1e308], ['Number.MIN_VALUE', () => Number.MIN_VALUE]
]

for (const [label, make] of KEY_CASES) {
  // New keys of every kind are accepted, like Map; -0 is stored as +0.
  let key
  row('map.set', `new key ${label}`, 'accepted', ({ map }) => { key = make(); return map.set(key, 'v') }, {
    mirror: ({ model }) => model.set(key, 'v'),
    check: ({ map }, result) => {
      assert.equal(result, map, 'set returns the map')
      assert.equal(map.get(key), 'v')
      assert.equal(map.has(key), true)
      assert.notEqual(map.info(key), undefined)
    }
  })
  // Absent hostile keys: every lookup answers "absent" and changes nothing.
  const absent = make()
  if (!Object.is(absent, NaN)) {
    row('map.get / has / delete / touch / info', `absent key ${label}`, 'accepted', ({ map }) => {
      assert.equal(map.get(absent), undefined)
      assert.equal(map.has(absent), false)
      assert.equal(map.delete(absent), false)
      assert.equal(map.touch(absent), false)
      assert.equal(map.info(absent), undefined)
    })
  }
}
row('map.set', 'a value whose getter throws', 'accepted', ({ map }) => map.set('g', getterThrows()), {
  mirror: ({ model, map }) => model.set('g', map.get('g'))
})
row('map.set', 'the map itself as key and value', 'accepted', ({ map }) => map.set(map, map), { mirror: ({ model, map }) => model.set(map, map) })
row('map.set', 'overwrite NaN (present)', 'accepted', ({ map }) => map.set(NaN, 'again'), { mirror: ({ model }) => model.set(NaN, 'again') })
row('map.delete', 'NaN (present)', 'accepted', ({ map }) => assert.equal(map.delete(NaN), true), { mirror: ({ model }) => model.delete(NaN) })
row('map.delete', '-0 after set(0)', 'accepted', ({ map }) => { map.set(0, 'zero'); assert.equal(map.delete(-0), true) }, { mirror: () => {} })
row('map.set', 'a new key into a full map (maxSize 3)', RangeError, ({ map }) => map.set('d', 4), { options: { maxSize: 3 } })
row('map.set', 'overwrite in a full map (maxSize 3)', 'accepted', ({ map }) => map.set('a', 9), { options: { maxSize: 3 }, mirror: ({ model }) => model.set('a', 9) })
row('map.clear', 'no arguments', 'accepted', ({ map }) => map.clear(), { mirror: ({ model }) => model.clear() })
row('map.clear', 'hostile arguments (ignored)', 'accepted', ({ map }) => map.clear(trapsThrow(), Symbol('x')), { mirror: ({ model }) => model.clear() })
// As with a Map, whose methods refuse a Proxy of it (a Proxy has none of the
// map's internal state).
row('HandleMap methods', 'through a transparent Proxy of the map', TypeError, ({ map }) => new Proxy(map, {}).set('p', 1))
row('Map methods (the reference)', 'through a transparent Proxy of a Map', TypeError, () => new Proxy(new Map(), {}).set('p', 1))
row('HandleMap.prototype.get', 'called on a plain object', TypeError, () => HandleMap.prototype.get.call({}, 'a'))
row('HandleMap.prototype.set', 'called on null', TypeError, () => HandleMap.prototype.set.call(null, 'a', 1))
row('HandleMap.prototype.size', 'read from a plain object', TypeError, () => Object.getOwnPropertyDescriptor(HandleMap.prototype, 'size').get.call({}))

// A clock that misbehaves while the map is used: a clear error, and the call
// it interrupted changes nothing.
const CLOCK_FAULTS = [
  ['throws', c => { c.mode = 'throw' }, Boom],
  ['returns NaN', c => { c.mode = 'value'; c.value = NaN }, TypeError],
  ['returns -1', c => { c.mode = 'value'; c.value = -1 }, TypeError],
  ['returns Infinity', c => { c.mode = 'value'; c.value = Infinity }, TypeError],
  ['returns "5"', c => { c.mode = 'value'; c.value = '5' }, TypeError]
]
for (const [fault, apply, expect] of CLOCK_FAULTS) {
  row('map.set', `new key while clock() ${fault}`, expect, ({ map, clock }) => { apply(clock); map.set('d', 4) })
  row('map.set', `overwrite while clock() ${fault}`, expect, ({ map, clock }) => { apply(clock); map.set('a', 'changed') })
  row('map.touch', `while clock() ${fault}`, expect, ({ map, clock }) => { apply(clock); map.touch('a') })
  row('map.info', `while clock() ${fault}`, expect, ({ map, clock }) => { apply(clock); map.info('a') })
  row('map.report', `while clock() ${fault}`, expect, ({ map, clock }) => { apply(clock); map.report() })
  row('map.purgeExpired', `while clock() ${fault}`, expect, ({ map, clock }) => { apply(clock); map.purgeExpired() })
  // The operations already done (not yet drained into the ledger) must survive
  // a drain that the clock interrupts.
  row('map.report', `after set(), while clock() ${fault}`, expect, ({ map, clock }) => { map.set('d', 4); apply(clock); map.report() }, {
    mirror: ({ model }) => model.set('d', 4)
  })
  row('map.purgeExpired', `after delete(), while clock() ${fault}`, expect, ({ map, clock }) => { map.delete('a'); apply(clock); map.purgeExpired() }, {
    mirror: ({ model }) => model.delete('a'),
    check: ({ map }) => {
      // The freed slot is reused: the ledger must not think it is still live.
      map.set('e', 5)
      map.report()
      map.delete('e')
    }
  })
}
// Clock values beyond what the ledger can hold (2^64 ms and more): refused,
// never a native panic, never an entry that expires at once.
for (const [label, value] of [['2 ** 64 - 2048', 2 ** 64 - 2048], ['1e20', 1e20], ['Number.MAX_VALUE', Number.MAX_VALUE]]) {
  row('map.set + purgeExpired', `clock() returns ${label}, TTL 10 s`, [TypeError, RangeError], ({ map, clock }) => {
    clock.mode = 'value'
    clock.value = value
    map.set('late', 1)
    const expired = map.purgeExpired()
    assert.equal(expired, 0, `an entry with a 10 s TTL expired at once (clock ${label})`)
  })
}

// forEach.
for (const [label, value] of [['5', 5], ['null', null], ['{}', {}], ['Symbol()', Symbol('f')], ['"fn"', 'fn'], ['a proxy whose traps throw', trapsThrow()]]) {
  row('map.forEach', `callback ${label}`, TypeError, ({ map }) => map.forEach(value))
}
row('map.forEach', 'a callback that throws', Boom, ({ map }) => map.forEach(boom))
row('map.forEach', 'a hostile thisArg', 'accepted', ({ map }) => map.forEach(() => {}, trapsThrow()))
row('map.keys/values/entries', 'iterators, with hostile arguments (ignored)', 'accepted', ({ map, model }) => {
  assert.equal([...map.keys(Symbol('x'))].length, model.size)
  assert.equal([...map.values(trapsThrow())].length, model.size)
  assert.equal([...map.entries(NaN)].length, model.size)
})

// Report options (map.report and registry.report share them).
const REPORT_OPTIONS = [
  ['null', null, TypeError], ['5', 5, TypeError], ['"x"', 'x', TypeError], ['Symbol()', Symbol('r'), TypeError], ['true', true, TypeError],
  ['{ limit: -1 }', { limit: -1 }, RangeError], ['{ limit: NaN }', { limit: NaN }, RangeError], ['{ limit: 1.5 }', { limit: 1.5 }, RangeError],
  ['{ limit: 2 ** 32 }', { limit: 2 ** 32 }, RangeError], ['{ limit: -Infinity }', { limit: -Infinity }, RangeError], ['{ limit: "5" }', { limit: '5' }, RangeError],
  ['{ limit: Infinity }', { limit: Infinity }, 'accepted'], ['{ limit: -0 }', { limit: -0 }, 'accepted'], ['{ limit: 0 }', { limit: 0 }, 'accepted'],
  ['{ oldest: -1 }', { oldest: -1 }, RangeError], ['{ oldest: 10001 }', { oldest: 10_001 }, RangeError], ['{ oldest: Infinity }', { oldest: Infinity }, RangeError],
  ['{ oldest: NaN }', { oldest: NaN }, RangeError], ['{ oldest: 10000 }', { oldest: 10_000 }, 'accepted'],
  ['{ includeKeys: "yes" }', { includeKeys: 'yes' }, TypeError], ['{ includeKeys: 1 }', { includeKeys: 1 }, TypeError],
  ['{ map: 5 }', { map: 5 }, TypeError], ['{ map: Symbol() }', { map: Symbol('m') }, TypeError], ['{ map: "nope" }', { map: 'nope' }, 'accepted'],
  ['{ bogus: 1 }', { bogus: 1 }, TypeError],
  ['a getter that throws', optionsWithThrowingGetter('limit'), Boom], ['a proxy whose traps throw', trapsThrow(), Boom],
  ['frozen { limit: 1 }', Object.freeze({ limit: 1 }), 'accepted']
]
for (const [label, options, expect] of REPORT_OPTIONS) {
  row('map.report', label, expect, ({ map }) => map.report(options))
  row('registry.report', label, expect, () => registry.report(options))
}
for (const [label, options, expect] of [['null', null, TypeError], ['{ map: 5 }', { map: 5 }, TypeError], ['{ limit: -1 } (ignored by snapshot)', { limit: -1 }, RangeError], ['a proxy whose traps throw', trapsThrow(), Boom]]) {
  row('registry.snapshot', label, expect, () => registry.snapshot(options))
}
// Keys that cannot be printed must not break a report that lists keys.
for (const [label, make] of [['whose inspect.custom throws', inspectThrows], ['whose Symbol.toStringTag getter throws', tagThrows], ['a proxy whose traps throw', trapsThrow], ['whose toString throws', toStringThrows], ['of 10 KB', () => 'k'.repeat(10 * 1024)]]) {
  let key
  row('map.report', `{ oldest: 10, includeKeys: true } with a key ${label}`, 'accepted', ({ map }) => {
    key = make()
    map.set(key, 'x')
    const report = map.report({ oldest: 10, includeKeys: true })
    assert.equal(report.oldestEntries.length, 4)
    for (const entry of report.oldestEntries) assert.ok(typeof entry.key === 'string' && entry.key.length <= 203, 'each key is bounded text')
    const everywhere = registry.report({ oldest: 10, includeKeys: true })
    assert.ok(everywhere.maps.length > 0)
  }, { mirror: ({ model }) => model.set(key, 'x') })
}

// assertEmpty.
row('map.assertEmpty', 'on a non-empty map, no message', HandleLeakError, ({ map }) => map.assertEmpty())
row('map.assertEmpty', 'on a non-empty map, 10 KB message with control characters', HandleLeakError, ({ map }) => map.assertEmpty('m\n'.repeat(5 * 1024)))
row('map.assertEmpty', 'on a non-empty map, message Symbol()', TypeError, ({ map }) => map.assertEmpty(Symbol('m')))
row('map.assertEmpty', 'on a non-empty map, a message whose toString throws', Boom, ({ map }) => map.assertEmpty(toStringThrows()))
row('map.assertEmpty', 'on an empty map, a message whose toString throws', 'accepted', ({ map }) => { map.clear(); map.assertEmpty(toStringThrows()) }, { mirror: ({ model }) => model.clear() })

// purgeExpired and close.
row('map.purgeExpired', 'hostile arguments (ignored)', 'accepted', ({ map }) => assert.equal(map.purgeExpired(trapsThrow(), -1), 0))
row('map.close', 'twice, then used as a Map', 'accepted', ({ map }) => {
  map.close()
  map.close()
  map.set('after', 1)
  assert.equal(map.get('after'), 1)
}, { mirror: ({ model }) => model.set('after', 1), closed: true })

// onExpire that throws, re-enters the map, deletes other entries.
function expiring (onExpire) {
  return {
    options: { ttl: 100, onExpire },
    // 'a' and the object key expire at 1_000_100; NaN was touched and lives on.
    run: fx => {
      fx.clock.now += 50
      fx.map.touch(NaN)
      fx.clock.now += 50
      return fx.map.purgeExpired()
    }
  }
}
const EXPIRED_KEYS = fx => ['a', fx.objectKey]
function onExpireRow (input, onExpire, mirror, check) {
  const { options, run } = expiring(onExpire)
  row('onExpire', input, 'accepted', run, {
    options,
    mirror: (fx, result) => {
      assert.equal(result, 2, 'both due entries expired')
      for (const key of EXPIRED_KEYS(fx)) fx.model.delete(key)
      mirror(fx)
    },
    check
  })
}
let warnings = []
process.on('warning', warning => warnings.push(warning))
onExpireRow('throws', boom, () => {}, async () => {
  await new Promise(resolve => setImmediate(resolve))
  const mine = warnings.filter(w => w.name === 'HandleLedgerWarning' && w.cause instanceof Boom)
  assert.equal(mine.length, 2, 'one HandleLedgerWarning per entry, carrying the Boom as cause')
})
onExpireRow('throws a non-Error (a Symbol)', () => { throw Symbol('not an error') }, () => {})
// Thrown values that break a naive `error.message`: every due entry is still
// handed over, and each throw is one warning.
const HOSTILE_THROWN = {
  'a revoked Proxy': () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy },
  'an object whose message getter throws': () => Object.defineProperty({}, 'message', { get: boom }),
  'a proxy whose traps throw': trapsThrow,
  'an Error whose message getter throws': () => Object.defineProperty(new Error('x'), 'message', { get: boom })
}
for (const [what, make] of Object.entries(HOSTILE_THROWN)) {
  onExpireRow(`throws ${what}`, () => { throw make() }, () => {}, async fx => {
    await new Promise(resolve => setImmediate(resolve))
    const mine = warnings.filter(w => w.name === 'HandleLedgerWarning' && w.message.includes(`"${fx.name}": onExpire threw`))
    assert.equal(mine.length, 2, 'one warning per entry, described without reading the thrown value unguarded')
  })
}
onExpireRow('is a proxy whose apply trap throws', new Proxy(() => {}, { apply: boom }), () => {})
let reentrantMap = null
onExpireRow('re-enters: sets the expired key again', entry => { reentrantMap.set(entry.key, 'back') }, fx => {
  for (const key of EXPIRED_KEYS(fx)) fx.model.set(key, 'back')
})
onExpireRow('deletes other entries (NaN, and the other expired one)', entry => { reentrantMap.delete(NaN); reentrantMap.delete('a') }, fx => {
  fx.model.delete(NaN)
})
onExpireRow('clears the map', () => reentrantMap.clear(), fx => fx.model.clear())
// Each due entry is handed over once: the purge inside returns 0, the
// delivery under way hands the other entry over.
const reentrantPurge = { seen: [], nested: [] }
onExpireRow('calls purgeExpired() again', entry => {
  reentrantPurge.seen.push(entry.key)
  reentrantPurge.nested.push(reentrantMap.purgeExpired())
}, () => {}, fx => {
  assert.deepEqual(reentrantPurge.nested, [0, 0])
  assert.deepEqual(reentrantPurge.seen.sort(), EXPIRED_KEYS(fx).sort())
})
onExpireRow('reads a report and the registry', () => { reentrantMap.report({ oldest: 5, includeKeys: true }); registry.snapshot() }, () => {})
onExpireRow('closes the map', () => reentrantMap.close(), () => {}, null)
ROWS[ROWS.length - 1].closed = true

// ---- the stack's edge ----------------------------------------------------------------

// Each mutator, called ever further from the stack's edge until it
// completes: each attempt before throws RangeError and changes nothing.
const EDGE_CALLS = [
  ['map.set', 'a new key', map => map.set('edge', 1), model => model.set('edge', 1)],
  ['map.set', 'an overwrite', map => map.set('a', 'edge'), model => model.set('a', 'edge')],
  ['map.delete', 'a present key', map => map.delete('a'), model => model.delete('a')],
  ['map.touch', 'a present key', map => map.touch('a'), () => {}],
  ['map.clear', '', map => map.clear(), model => model.clear()]
]
for (const callSites of ['all', 'sampled', 'off']) {
  for (const [fn, what, call, mirror] of EDGE_CALLS) {
    row(fn, `${what} at the stack's edge (callSites '${callSites}')`, 'accepted', ({ map }) => {
      const before = [...map.entries()]
      for (let back = 0; back < 10_000; back++) {
        const outcome = callNearStackEdge(back, 0, () => call(map))
        if (outcome.error === undefined) return
        assert.ok(outcome.error instanceof RangeError, String(outcome.error))
        sameEntries([...map.entries()], before, `${back} frames from the edge`)
        assert.equal(map.report().live, map.size)
      }
      assert.fail('never completed')
    }, { options: { callSites, sampleRate: 2 }, mirror: ({ model }) => mirror(model) })
  }
}

// ---- time ------------------------------------------------------------------------------

// The wall clock stepped either way changes nothing for a map on the
// default (monotonic) clock: no early expiry, no held entry, no odd age.
for (const [label, offset] of [['forward a minute', 60_000], ['back an hour', -3_600_000], ['forward a year', 365 * 86_400_000]]) {
  row('map.purgeExpired', `Date.now() stepped ${label} (default clock, TTL 10 s)`, 'accepted', ({ map }) => {
    const realNow = Date.now
    Date.now = () => realNow() + offset
    try {
      assert.equal(map.purgeExpired(), 0)
      assert.ok(map.info('a').ageMs < 10_000, 'the age does not follow the wall clock')
      assert.ok(map.report().oldestAgeMs < 10_000)
    } finally {
      Date.now = realNow
    }
  }, { options: { clock: undefined }, mirror: () => {} })
}
// A custom clock is the map's time, both ways: back, nothing expires and
// ages are 0; forward past the TTL, everything due expires.
row('map.purgeExpired', 'clock() stepped back 15 minutes, then past the TTL', 'accepted', ({ map, clock }) => {
  clock.now -= 900_000
  assert.equal(map.purgeExpired(), 0)
  assert.equal(map.info('a').ageMs, 0)
  clock.now += 900_000 + 10_000
  assert.equal(map.purgeExpired(), 3)
}, { mirror: ({ model }) => model.clear() })
// Entries older than 2^32 ms (49.7 days): ages do not wrap.
for (const [label, older] of [['2^32 ms', 2 ** 32], ['2^32 + 1 ms', 2 ** 32 + 1], ['a year', 365 * 86_400_000], ['2^40 ms', 2 ** 40]]) {
  row('map.info / report', `entries ${label} old`, 'accepted', ({ map, clock }) => {
    clock.now += older
    assert.equal(map.info('a').ageMs, older)
    const report = map.report({ oldest: 3 })
    assert.equal(report.oldestAgeMs, older)
    assert.deepEqual(report.oldestEntries.map(e => e.ageMs), [older, older, older])
    assert.equal(Math.max(...report.sites.map(site => site.oldestAgeMs)), older)
  }, { options: { ttl: 0 }, mirror: () => {} })
}

// registry.diff.
row('registry.diff', '(undefined, undefined)', TypeError, () => registry.diff())
row('registry.diff', '({}, {})', TypeError, () => registry.diff({}, {}))
row('registry.diff', '(snapshot, null)', TypeError, () => registry.diff(registry.snapshot(), null))
row('registry.diff', '({ maps: "x", at: 1 }, snapshot)', TypeError, () => registry.diff({ maps: 'x', at: 1 }, registry.snapshot()))
row('registry.diff', '({ maps: [null], at: 1 }, snapshot)', TypeError, () => registry.diff({ maps: [null], at: 1 }, registry.snapshot()))
row('registry.diff', '(a proxy whose traps throw, snapshot)', Boom, () => registry.diff(trapsThrow(), registry.snapshot()))
row('registry.diff', '(snapshot, snapshot)', 'accepted', () => { const s = registry.snapshot(); registry.diff(s, s) })

// leakCheck (async: a rejection is the error).
const LEAK_CHECK = [
  ['fn 5', [5], TypeError], ['fn null', [null], TypeError],
  ['options null', [async () => {}, null], TypeError], ['options 5', [async () => {}, 5], TypeError],
  ['{ iterations: 0 }', [async () => {}, { iterations: 0 }], RangeError], ['{ iterations: NaN }', [async () => {}, { iterations: NaN }], RangeError],
  ['{ iterations: 1.5 }', [async () => {}, { iterations: 1.5 }], RangeError], ['{ iterations: Infinity }', [async () => {}, { iterations: Infinity }], RangeError],
  ['{ settleMs: -1 }', [async () => {}, { settleMs: -1 }], RangeError], ['{ settleMs: NaN }', [async () => {}, { settleMs: NaN }], RangeError],
  ['{ settleMs: Infinity }', [async () => {}, { settleMs: Infinity }], RangeError],
  ['{ retries: -1 }', [async () => {}, { retries: -1 }], RangeError], ['{ retries: 101 }', [async () => {}, { retries: 101 }], RangeError],
  ['{ maps: "x" }', [async () => {}, { maps: 'x' }], TypeError], ['{ bogus: 1 }', [async () => {}, { bogus: 1 }], TypeError],
  ['an options getter that throws', [async () => {}, optionsWithThrowingGetter('iterations')], Boom],
  ['fn throws', [boom], Boom], ['fn rejects', [async () => boom()], Boom],
  ['fn that creates and closes a map', [async () => { new HandleMap({ strict: false }).close() }, { settleMs: 0 }], 'accepted']
]
for (const [label, args, expect] of LEAK_CHECK) row('leakCheck', label, expect, () => leakCheck(...args))

// formatReport and debugHandles.
for (const [label, value, expect] of [['null', null, TypeError], ['5', 5, TypeError], ['Symbol()', Symbol('f'), TypeError], ['{ maps: [] }', { maps: [] }, 'accepted'], ['a real report', 'report', 'accepted']]) {
  row('formatReport', label, expect, () => formatReport(value === 'report' ? registry.report() : value))
}
for (const [label, value, expect] of [
  ['null', null, TypeError], ['5', 5, TypeError], ['{ bogus: 1 }', { bogus: 1 }, TypeError], ['{ limit: -1 }', { limit: -1 }, RangeError],
  ['{ limit: NaN }', { limit: NaN }, RangeError], ['{ includeKeys: "yes" }', { includeKeys: 'yes' }, TypeError], ['{ allow: 5 }', { allow: 5 }, TypeError],
  ['{ onError: "log" }', { onError: 'log' }, TypeError], ['{}', {}, 'accepted'],
  ['{ maxDeltas: 0 }', { maxDeltas: 0 }, RangeError], ['{ maxDeltas: 1.5 }', { maxDeltas: 1.5 }, RangeError], ['{ maxDeltas: Infinity }', { maxDeltas: Infinity }, RangeError],
  ['{ maxDeltas: "4" }', { maxDeltas: '4' }, RangeError], ['{ maxDeltas: 1000 }', { maxDeltas: 1000 }, 'accepted']
]) {
  row('debugHandles', label, expect, () => { debugHandles(value) })
}

// ---- the runner -----------------------------------------------------------------------

async function runRow (r) {
  const fx = fixture(r.options)
  try {
    await checkRow(r, fx)
  } finally {
    fx.clock.reset()
    fx.map.close() // a failing row must not leave its hostile keys to the next rows' registry reports
  }
}

async function checkRow (r, fx) {
  reentrantMap = fx.map
  warnings = []
  const before = state(fx.map)
  const idsBefore = new Set(registryIds())
  let result
  let error = null
  try {
    result = await r.run(fx)
  } catch (e) {
    error = e
  } finally {
    fx.clock.reset()
  }
  const where = `${r.fn}: ${r.input}`
  if (r.expect === 'accepted') {
    if (error !== null) assert.fail(`${where}: expected to be accepted, threw ${error && error.stack}`)
  } else {
    if (error === null) assert.fail(`${where}: expected ${className(r.expect)}, nothing was thrown`)
    assert.ok(isExpected(error, r.expect), `${where}: expected ${className(r.expect)}, got ${error && error.constructor && error.constructor.name}: ${error && error.message}`)
    assert.ok(typeof error.message === 'string' && error.message.length > 0, `${where}: the error has a message`)
    assert.doesNotMatch(error.message, /internal error|panicked|native backtrace/, `${where}: a native panic reached JS`)
  }
  if (result instanceof HandleMap && result !== fx.map) result.close()

  // Nothing changed, or what changed is what a Map would hold.
  if (r.mirror) {
    r.mirror(fx, result)
    sameEntries([...fx.map.entries()], [...fx.model], where)
    const report = fx.map.report({ limit: 100 })
    assert.equal(report.live, fx.map.size, `${where}: report live = size`)
    assert.equal(report.live, report.inserts - report.removes - report.expired, `${where}: live = inserts - removes - expired`)
  } else {
    assert.deepEqual(state(fx.map), before, `${where}: the map changed`)
    sameEntries(state(fx.map).entries, before.entries, where)
  }
  if (r.check) await r.check(fx, result)
  const report = fx.map.report({ limit: 100 })
  assert.equal(report.live, fx.map.size, `${where}: report live = size after the row`)

  // No map left behind in the registry.
  const added = registryIds().filter(id => !idsBefore.has(id))
  assert.deepEqual(added, [], `${where}: the registry gained maps`)
  const listed = registry.report({ map: fx.name }).maps.length
  assert.equal(listed, r.closed ? 0 : 1, `${where}: the fixture map's registration`)
}

test(`hostile input: ${ROWS.length} cases, each a clear error or accepted, and nothing changed`, async t => {
  for (const r of ROWS) {
    await t.test(`${r.fn}: ${r.input} -> ${r.expect === 'accepted' ? 'accepted' : className(r.expect)}`, () => runRow(r))
  }
})

// ---- the CLI: hostile saved files ----------------------------------------------------
// A saved report is untrusted input: whatever a file holds, `handle-ledger show`
// prints one line on stderr (no control character in it, no stack trace),
// writes nothing (no page for --html) and exits 2. Each row changes one field
// of a real report (a site with remove sites, a lifetime, two callers) the
// way a hostile or corrupt file did.

const fs = require('node:fs')
const os = require('node:os')
const CLI = path.join(__dirname, '..', require('../package.json').bin['handle-ledger'])
const ESC = '\u001b[2J\u001b[H'
const SCRIPT = '<script>window.__pwned = 1</script>'

function savedReport () {
  const map = new HandleMap({ name: `hostile-cli-${process.pid}`, callSites: 'all', strict: false })
  try {
    const insert = key => map.set(key, {})
    function firstCaller (i) { insert(`a${i}`) }
    function secondCaller (i) { insert(`b${i}`); map.delete(`b${i}`) }
    for (let i = 0; i < 3; i++) { firstCaller(i); secondCaller(i) }
    return JSON.parse(JSON.stringify(registry.report({ map: map.name, limit: 1 })))
  } finally {
    map.close()
  }
}

const CLI_ROWS = []
const cliRow = (input, change, message, args = []) => CLI_ROWS.push({ input, change, message, args })
const site = doc => doc.maps[0].sites[0]
// Crashes: a stack trace and exit 1 before.
cliRow('removedAt: {}', doc => { site(doc).removedAt = {} }, /maps\[0\]\.sites\[0\]\.removedAt must be an array, got an object$/)
cliRow('a null caller', doc => { site(doc).callers[1] = null }, /maps\[0\]\.sites\[0\]\.callers\[1\] must be an object, got null$/)
cliRow('at: 1e20, --html', doc => { doc.at = 1e20 }, /: at must be <= 8640000000000000, got 100000000000000000000$/, ['--html'])
cliRow('a map\'s at: -1, --html', doc => { doc.maps[0].at = -1 }, /maps\[0\]\.at must be >= 0, got -1$/, ['--html'])
// Terminal escapes: printed raw before.
cliRow('threadId: an escape', doc => { doc.maps[0].threadId = `${ESC}forged line` }, /maps\[0\]\.threadId must be an integer, got a string$/)
cliRow('callSites: an escape', doc => { doc.maps[0].callSites = ESC }, /maps\[0\]\.callSites must be one of "auto", "all", "sampled", "off"$/)
cliRow('a site\'s live: an escape', doc => { site(doc).live = ESC }, /sites\[0\]\.live must be an integer, got a string$/)
cliRow('a site\'s inserts: 1.5', doc => { site(doc).inserts = 1.5 }, /sites\[0\]\.inserts must be an integer, got 1\.5$/)
cliRow('removedAt[0].count: an escape', doc => { site(doc).removedAt[0].count = ESC }, /removedAt\[0\]\.count must be an integer, got a string$/)
cliRow('a map name with an escape', doc => { doc.maps[0].name = `a${ESC}b` }, /maps\[0\]\.name has characters outside/)
cliRow('a field named with an escape', doc => { site(doc)[ESC] = 1 }, /sites\[0\] has an unknown field "\\u001b\[2J\\u001b\[H"$/)
// Markup where the page wrote numbers raw: a script ran in Chromium before.
cliRow('a site\'s inserts: <script>, --html', doc => { site(doc).inserts = SCRIPT }, /sites\[0\]\.inserts must be an integer, got a string$/, ['--html'])
cliRow('a site\'s removes: <script>, --html', doc => { site(doc).removes = SCRIPT }, /sites\[0\]\.removes must be an integer/, ['--html'])
cliRow('a site\'s expired: <script>, --html', doc => { site(doc).expired = SCRIPT }, /sites\[0\]\.expired must be an integer/, ['--html'])
cliRow('a map\'s overwrites: <script>, --html', doc => { doc.maps[0].overwrites = SCRIPT }, /maps\[0\]\.overwrites must be an integer/, ['--html'])
cliRow('a map\'s threadId: markup, --html', doc => { doc.maps[0].threadId = '<img src=x onerror="window.__pwned = 2">' }, /maps\[0\]\.threadId must be an integer/, ['--html'])
cliRow('lifetime.count: an onmouseover attribute, --html', doc => { site(doc).lifetime = { ...site(doc).lifetime, count: '1" onmouseover="window.__pwned = 3' } }, /sites\[0\]\.lifetime\.count must be an integer, got a string$/, ['--html'])
cliRow('a caller row\'s live: <script>, --html', doc => { site(doc).callers[0].live = SCRIPT }, /callers\[0\]\.live must be an integer/, ['--html'])
cliRow('otherCallers.callers: <script>, --html', doc => { site(doc).otherCallers = { callers: SCRIPT, live: 0, inserts: 0, removes: 0, expired: 0, suspect: false } }, /otherCallers\.callers must be an integer/, ['--html'])
cliRow('sitesOmitted: <script>, --html', doc => { doc.maps[0].sitesOmitted = SCRIPT }, /maps\[0\]\.sitesOmitted must be an integer/, ['--html'])
cliRow('an oldest entry\'s ageMs: <script>, --html', doc => { doc.maps[0].oldestEntries = [{ ageMs: SCRIPT, site: null }] }, /oldestEntries\[0\]\.ageMs must be a number/, ['--html'])
// A "__proto__" key (harmless before, as JSON.parse makes it an own field) is
// an unknown field; a schemaVersion this version does not read was refused
// before and still is.
cliRow('a "__proto__" field in the document', doc => JSON.stringify(doc).replace(/^\{/, '{"__proto__":{"kind":"diff","maps":[]},'), /the document has an unknown field "__proto__"$/)
cliRow('a "__proto__" field in a site', doc => JSON.stringify(doc).replace('"site":', '"__proto__":{"suspect":true},"site":'), /sites\[0\] has an unknown field "__proto__"$/)
for (const version of [3, '2', 0, 1.5, null]) {
  cliRow(`schemaVersion ${JSON.stringify(version)}`, doc => { doc.schemaVersion = version }, new RegExp(`schemaVersion ${JSON.stringify(version).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not one this handle-ledger reads \\(1 to 2\\); upgrade handle-ledger$`))
}
cliRow('kind "profile"', doc => { doc.kind = 'profile' }, /kind must be one of "report", "snapshot"$/)

test(`the CLI and hostile saved files: ${CLI_ROWS.length} cases, each one line on stderr and exit code 2`, async t => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handle-ledger-hostile-cli-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const base = savedReport()
  assert.equal(site(base).callers.length, 2, 'the base report has two caller rows')
  assert.ok(site(base).lifetime && site(base).removedAt.length > 0 && base.maps[0].sitesOmitted === 0)
  const clean = spawnSync(CLI, ['show', saveInto(dir, 'base.json', JSON.stringify(base))], { encoding: 'utf8' })
  assert.equal(clean.status, 0, `the unchanged report renders: ${clean.stderr}`)
  for (const [i, r] of CLI_ROWS.entries()) {
    await t.test(`handle-ledger show: ${r.input}`, () => {
      const doc = structuredClone(base)
      const changed = r.change(doc)
      const file = saveInto(dir, `row-${i}.json`, typeof changed === 'string' ? changed : JSON.stringify(doc))
      const page = path.join(dir, `row-${i}.html`)
      const args = r.args.includes('--html') ? ['--html', page] : []
      const result = spawnSync(CLI, ['show', file, ...args], { encoding: 'utf8' })
      assert.equal(result.error, undefined, String(result.error))
      assert.equal(result.status, 2, `exit code; stderr: ${result.stderr}`)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, /^handle-ledger: [^\n]+\n$/, 'one line')
      assert.doesNotMatch(result.stderr.slice(0, -1), /[\u0000-\u001f\u007f-\u009f]/, 'no control character')
      assert.match(result.stderr.trimEnd(), r.message)
      assert.ok(result.stderr.startsWith(`handle-ledger: ${file}: `), 'names the file')
      assert.equal(fs.existsSync(page), false, 'no page written')
    })
  }
})

function saveInto (dir, name, text) {
  const file = path.join(dir, name)
  fs.writeFileSync(file, text)
  return file
}

// ---- the process survives hostile input on the timer path ------------------------------

function child (source) {
  return spawnSync(process.execPath, ['-e', source], { encoding: 'utf8', timeout: 30_000, cwd: path.join(__dirname, '..') })
}

test('a clock that throws once during a timer tick does not crash the process, and the map stays consistent', () => {
  const result = child(`
    const { HandleMap } = require('.')
    let fail = false
    const map = new HandleMap({ ttl: 50, flushInterval: 5, strict: false, clock: () => { if (fail) throw new Error('clock down'); return Date.now() } })
    map.set('a', 1)
    map.report()
    map.delete('a')
    map.set('b', 2)
    fail = true
    setTimeout(() => {
      fail = false
      setTimeout(() => {
        const report = map.report()
        if (report.live !== map.size) throw new Error('ledger out of step: live ' + report.live + ', size ' + map.size)
        console.log('survived')
      }, 100)
    }, 50)
  `)
  assert.equal(result.signal, null, `killed by ${result.signal}`)
  assert.equal(result.status, 0, `the process died:\n${result.stderr}`)
  assert.match(result.stdout, /survived/)
})

test('a clock beyond 2^64 ms during a timer tick does not crash the process', () => {
  const result = child(`
    const { HandleMap } = require('.')
    const now = 2 ** 64 - 2048
    try {
      const map = new HandleMap({ ttl: 50, flushInterval: 5, strict: false, clock: () => now })
      map.set('a', 1)
    } catch (error) {
      if (!(error instanceof TypeError || error instanceof RangeError)) throw error
    }
    setTimeout(() => console.log('survived'), 100)
  `)
  assert.equal(result.signal, null, `killed by ${result.signal}`)
  assert.equal(result.status, 0, `the process died:\n${result.stderr}`)
  assert.match(result.stdout, /survived/)
})

test('an onExpire that throws on every timer tick does not crash the process', () => {
  const result = child(`
    const { HandleMap } = require('.')
    process.on('warning', () => {})
    const map = new HandleMap({ ttl: 5, flushInterval: 5, strict: false, onExpire: () => { throw new Error('user bug') } })
    for (let i = 0; i < 100; i++) map.set(i, i)
    setTimeout(() => { if (map.size !== 0) throw new Error('not expired: ' + map.size); console.log('survived') }, 300)
  `)
  assert.equal(result.status, 0, `the process died:\n${result.stderr}`)
  assert.match(result.stdout, /survived/)
})
