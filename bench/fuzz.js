'use strict'
// Differential fuzzer: random operation sequences against a HandleMap and a
// model (a plain Map plus a model of TTL expiry under a fake clock), compared
// after every operation. On a divergence the sequence is minimised (delta
// debugging) and printed as a script that reproduces it.
//
//   node bench/fuzz.js --seconds 60 [--seed 1234] [--cases N]
//   node bench/fuzz.js --replay failure.json      (a case printed by a failure)
//
// What is compared: every answer of set/get/has/delete/clear/touch/size;
// keys, values and entries in order (also while the map is mutated during the
// iteration, by every iteration style); which entries expire at each expiry
// tick, with what value and age, and the onExpire hand-over (including an
// onExpire that re-enters the map); info(); the report's figures per map and,
// with callSites 'all', per insert site (live = inserts - removes - expired);
// oldest ages; the registry snapshot and diff figures; the maxSize refusal.
// Also: an onExpire that throws values a naive `error.message` cannot read
// (every due entry still handed over, one warning each); set/delete/touch/
// clear called near the stack's edge (completed, or a RangeError and no
// change); the default monotonic clock (driven through a fake `performance`)
// with the wall clock (`Date.now`) stepped both ways, which must change
// nothing; clock jumps past 2^32 ms.
//
// Keys: every kind a Map takes (numbers incl. NaN, -0, +-Infinity; strings;
// booleans, null, undefined; BigInts; symbols incl. registered and well-known;
// plain, frozen, null-prototype and array objects; functions; proxies incl.
// one whose every trap throws; objects whose toString/valueOf throw).

const { HandleMap, registry } = require('..')
const nativeLedgerOf = require('../lib/map/handle-map.js').internals.nativeLedger

// ---- deterministic randomness ------------------------------------------

function rng (seed) {
  let s = (seed >>> 0) || 0x9e3779b9
  const next = () => {
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    return s
  }
  return {
    next,
    below: n => next() % n,
    chance: p => next() / 4294967296 < p,
    pick: list => list[next() % list.length]
  }
}

// ---- keys -------------------------------------------------------------

const throwingTraps = {}
for (const trap of ['get', 'set', 'has', 'ownKeys', 'getPrototypeOf', 'getOwnPropertyDescriptor', 'defineProperty', 'deleteProperty', 'apply', 'construct', 'isExtensible', 'preventExtensions', 'setPrototypeOf']) {
  throwingTraps[trap] = () => { throw new Error(`proxy trap ${trap}`) }
}

// [source text, factory]; the text is a JS expression for the reproduction.
const KEY_SPECS = [
  ['0', () => 0], ['-0', () => -0], ['NaN', () => NaN], ['1', () => 1], ['-1', () => -1],
  ['1.5', () => 1.5], ['Infinity', () => Infinity], ['-Infinity', () => -Infinity],
  ['2 ** 53', () => 2 ** 53], ['Number.MIN_VALUE', () => Number.MIN_VALUE],
  ["'0'", () => '0'], ["''", () => ''], ["'a'", () => 'a'], ["'NaN'", () => 'NaN'],
  ["'__proto__'", () => '__proto__'], ["'constructor'", () => 'constructor'],
  ["'\\u0000\\n'", () => '\u0000\n'], ["'x'.repeat(300)", () => 'x'.repeat(300)],
  ['true', () => true], ['false', () => false], ['null', () => null], ['undefined', () => undefined],
  ['0n', () => 0n], ['1n', () => 1n],
  ["Symbol('s')", () => Symbol('s')], ["Symbol('s') /* another */", () => Symbol('s')],
  ['Symbol.iterator', () => Symbol.iterator], ["Symbol.for('fuzz')", () => Symbol.for('fuzz')],
  ['{}', () => ({})], ['{} /* another */', () => ({})], ['[]', () => []],
  ['Object.freeze({ frozen: true })', () => Object.freeze({ frozen: true })],
  ['Object.freeze([1, 2])', () => Object.freeze([1, 2])],
  ['Object.create(null)', () => Object.create(null)],
  ['function f () {}', () => function f () {}], ['class C {}', () => class C {}],
  ['new Proxy({}, {})', () => new Proxy({}, {})],
  ['new Proxy({}, throwingTraps)', () => new Proxy({}, throwingTraps)],
  ["{ toString () { throw new Error('toString') }, valueOf () { throw new Error('valueOf') } }",
    () => ({ toString () { throw new Error('toString') }, valueOf () { throw new Error('valueOf') } })],
  ['new Date(0)', () => new Date(0)], ['/re/g', () => /re/g], ['new Map()', () => new Map()]
]
for (let i = 0; i < 12; i++) KEY_SPECS.push([`'k${i}'`, () => `k${i}`])
for (let i = 0; i < 12; i++) KEY_SPECS.push([`${100 + i}`, () => 100 + i])

function makeKeys () {
  return KEY_SPECS.map(([, make]) => make())
}

// ---- call sites ---------------------------------------------------------
// Each insert goes through one of these, so with callSites 'all' every
// insert site of the report names one of them.

function fuzzSetA (map, key, value) { return map.set(key, value) }
function fuzzSetB (map, key, value) { return map.set(key, value) }
function fuzzSetC (map, key, value) { return map.set(key, value) }
function fuzzIterSet (map, key, value) { return map.set(key, value) }
function fuzzExpireSet (map, key, value) { return map.set(key, value) }
function fuzzBulkSet (map, key, value) { return map.set(key, value) }
function fuzzEdgeSet (map, key, value) { return map.set(key, value) }
function fuzzConstruct (MapClass, entries, options) { return new MapClass(entries, options) }
const SETTERS = [fuzzSetA, fuzzSetB, fuzzSetC]
const SITE_NAMES = new Set(['fuzzSetA', 'fuzzSetB', 'fuzzSetC', 'fuzzIterSet', 'fuzzExpireSet', 'fuzzBulkSet', 'fuzzEdgeSet', 'fuzzConstruct'])

function siteLabel (siteText) {
  if (typeof siteText !== 'string') return null
  const match = /^(?:async )?(\w+) \(/.exec(siteText)
  if (match && SITE_NAMES.has(match[1])) return match[1]
  if (/^new /.test(siteText)) return 'fuzzConstruct' // a subclass's constructor
  if (siteText === '<native> (unknown location)') return 'unknownSite' // captured at the stack's edge
  return `<unexpected site ${siteText}>`
}

// ---- hostile callbacks and the stack's edge ----------------------------------

// What a 'throwHostile' onExpire throws, by the entry's value; the same text
// runs here and in a printed reproduction.
const HOSTILE_THROW_SOURCE = `value => {
  const kind = typeof value === 'number' ? value % 3 : 0
  if (kind === 0) { const r = Proxy.revocable({}, {}); r.revoke(); throw r.proxy }
  if (kind === 1) throw Object.defineProperty({}, 'message', { get () { throw new Error('message getter') } })
  throw Symbol('thrown')
}`
const hostileThrow = new Function(`return ${HOSTILE_THROW_SOURCE}`)() // eslint-disable-line no-new-func

// Recurses until the stack overflows, unwinds `back` frames and calls `fn`:
// `{ value }` or `{ error }`. The same text runs in a printed reproduction.
const NEAR_STACK_EDGE_SOURCE = `function nearStackEdge (back, fn) {
  const UNWIND = {}
  let remaining = back
  let outcome
  function dive () {
    try {
      dive()
    } catch (error) {
      if (outcome !== undefined) return
      if (error !== UNWIND && !(error instanceof RangeError)) throw error
      if (remaining-- > 0) throw UNWIND
      try { outcome = { value: fn() } } catch (thrown) { outcome = { error: thrown } }
    }
  }
  dive()
  return outcome
}`
const nearStackEdge = new Function(`return ${NEAR_STACK_EDGE_SOURCE}`)() // eslint-disable-line no-new-func
// How many frames back the last edge operation first completed: the next
// one starts its sweep a little nearer the edge (cold code needs hundreds
// of frames, optimized code a few).
let edgeReach = 0

// The default clock reads performance.timeOrigin + performance.now(): a case
// on it drives both, so its time is the case's clock, exactly.
function fakePerformance (read) {
  const realNow = performance.now
  const origin = Object.getOwnPropertyDescriptor(performance, 'timeOrigin')
  Object.defineProperty(performance, 'timeOrigin', { value: 0, configurable: true })
  performance.now = read
  return () => {
    performance.now = realNow
    if (origin === undefined) delete performance.timeOrigin
    else Object.defineProperty(performance, 'timeOrigin', origin)
  }
}

// ---- case generation --------------------------------------------------------

const ITERATION_KINDS = ['keys', 'values', 'entries', 'iterator', 'forEach']

function generateCase (seed, maxOps) {
  const r = rng(seed)
  const ttl = r.pick([0, 0, 1, 2, 5, 10, 100, 1000, 2.5])
  const config = {
    ttl,
    callSites: r.pick(['auto', 'all', 'all', 'sampled', 'off']),
    sampleRate: r.pick([1, 2, 7]),
    maxSize: r.chance(0.2) ? r.pick([0, 1, 3, 8, 20]) : Infinity,
    start: r.pick([0, 1000, 2 ** 32 - 3, 1.7e12, 2 ** 40 + 0.5]),
    fractionalClock: r.chance(0.2),
    // 'default': the monotonic clock, through a fake performance.now.
    clock: r.chance(0.25) ? 'default' : 'custom',
    onExpire: r.pick(['record', 'record', 'reinsert', 'deleteOther', 'throwHostile']),
    victim: 0,
    entries: null
  }
  // A small working set makes hits likely; any key now and then.
  const hot = Array.from({ length: 3 + r.below(8) }, () => r.below(KEY_SPECS.length))
  const key = () => (r.chance(0.8) ? r.pick(hot) : r.below(KEY_SPECS.length))
  config.victim = key()
  if (r.chance(0.2)) {
    config.entries = Array.from({ length: r.below(6) }, () => [key(), r.below(1000)])
  }
  const span = Math.max(1, Math.ceil(ttl))
  const dt = () => (r.chance(0.01) ? 2 ** 32 + r.below(5) : r.pick([0, 1, span - 1, span, span + 1, r.below(3 * span + 1), 1000])) + (config.fractionalClock ? r.pick([0, 0.25, 0.75]) : 0)
  const action = () => {
    switch (r.below(9)) {
      case 0: return ['deleteCurrent']
      case 1: case 2: return ['delete', key()]
      case 3: case 4: return ['set', key(), r.below(1000)]
      case 5: return ['clear']
      case 6: return ['tick', dt()]
      case 7: return ['purge']
      default: return ['touch', key()]
    }
  }
  const ops = []
  const length = 1 + r.below(maxOps)
  for (let i = 0; i < length; i++) {
    const n = r.below(1000)
    if (n < 250) ops.push(['set', key(), r.below(1000), r.below(SETTERS.length)])
    else if (n < 330) ops.push(['get', key()])
    else if (n < 380) ops.push(['has', key()])
    else if (n < 530) ops.push(['delete', key()])
    else if (n < 545) ops.push(['clear'])
    else if (n < 605) ops.push(['touch', key()])
    else if (n < 650) ops.push(['info', key()])
    else if (n < 770) ops.push(['tick', dt()])
    else if (n < 850) ops.push(['purge'])
    else if (n < 890) ops.push(['report', r.pick([0, 0, 1, 3, 50]), r.chance(0.5)])
    else if (n < 910) ops.push(['snapshot'])
    else if (n < 990) {
      const plan = []
      const actions = r.below(5)
      for (let a = 0; a < actions; a++) plan.push([r.below(12), action()])
      ops.push(['iterate', r.pick(ITERATION_KINDS), plan])
    } else if (n < 995) {
      ops.push(['edge', r.pick(['set', 'set', 'delete', 'touch', 'clear']), key(), r.below(1000)])
    } else if (n < 998 || config.clock === 'default') {
      // A default-clock case has no bulk: a full log handed over mid-way
      // stamps its operations at a moment the model does not track.
      ops.push(['wallStep', r.pick([60_000, -3_600_000, 86_400_000, -1])])
    } else {
      ops.push(['bulk', r.pick([100, 100, 3000]), r.pick([1, 2, 10])])
    }
  }
  return { config, ops }
}

// ---- running a case against the model -------------------------------------------

class Divergence extends Error {
  constructor (check, message) {
    super(message)
    this.check = check
  }
}

function same (a, b) {
  return Object.is(a, b)
}

// Keys of the pool are named by their source text: describing a key must not
// touch it (a proxy key throws from every trap).
let keyLabels = new Map()

function describeValue (value) {
  const label = keyLabels.get(value)
  if (label !== undefined) return label
  if (typeof value === 'symbol') return value.toString()
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value)
  if (typeof value === 'object' && value !== null) return 'an object'
  if (typeof value === 'function') return 'a function'
  return Object.is(value, -0) ? '-0' : String(value)
}

/**
 * Runs one case; returns `{ ops: operations performed, failure: null | { at, check, message } }`.
 * `MapClass` lets a test plant a bug to show the fuzzer finds it.
 */
function runCase ({ config, ops }, { MapClass = HandleMap } = {}) {
  const keys = makeKeys()
  keyLabels = new Map(keys.map((key, i) => [key, KEY_SPECS[i][0]]))
  keyLabels.set(0, '0') // -0 and +0 are one key
  let clockValue = config.start
  // The ledger stamps operations with the clock rounded up (a deadline is
  // never early) and reads ages at its latest stamp; what is due is checked
  // with the clock rounded down.
  const now = () => Math.ceil(clockValue)
  const dueNow = () => Math.floor(clockValue)
  // On the default clock, operations are stamped by the next drain: until
  // then an entry's insert time or deadline is pending. `logged` says
  // whether anything waits in the log (a drain happens only then), and
  // `ledgerNow` is the ledger's clock: its latest stamp.
  const onDefaultClock = config.clock === 'default'
  const pending = new Set()
  let logged = false
  let ledgerNow = -Infinity
  const stamp = entry => {
    if (onDefaultClock) {
      pending.add(entry)
    } else {
      if (entry.inserted === null) entry.inserted = now()
      entry.deadline = now() + ttl
      ledgerNow = Math.max(ledgerNow, now())
    }
    logged = true
  }
  // A drain (info/report/purge/snapshot). On the default clock a flush
  // drains only a log with something in it; an expiry tick (`always`) does.
  const drain = (always = false) => {
    if (onDefaultClock && !logged && !always) return
    for (const entry of pending) {
      if (entry.inserted === null) entry.inserted = now()
      entry.deadline = now() + ttl
    }
    pending.clear()
    logged = false
    ledgerNow = Math.max(ledgerNow, now())
  }
  // The clock a read ages entries at: the ledger's, or later.
  const readNow = () => Math.max(dueNow(), ledgerNow)
  const ttl = Math.ceil(config.ttl)
  const recorded = config.callSites === 'all'
  let performed = 0
  let at = -1

  // The model.
  const model = new Map() // key -> { value, inserted, deadline, site }
  const counts = { inserts: 0, removes: 0, expired: 0, overwrites: 0 }
  const sites = new Map() // label -> { live, inserts, removes, expired, overwrites }
  let lastSnapshot = null
  let lastFigures = null
  const siteOf = label => {
    let s = sites.get(label)
    if (s === undefined) sites.set(label, (s = { live: 0, inserts: 0, removes: 0, expired: 0, overwrites: 0 }))
    return s
  }
  const fail = (check, message) => { throw new Divergence(check, message) }
  const expect = (check, actual, expected, what) => {
    if (!same(actual, expected)) fail(check, `${what}: got ${describeValue(actual)}, expected ${describeValue(expected)}`)
  }

  const modelInsertOrOverwrite = (key, value, label) => {
    const entry = model.get(key)
    if (entry !== undefined) {
      entry.value = value
      stamp(entry)
      counts.overwrites++
      siteOf(entry.site).overwrites++
      return 'overwrite'
    }
    if (model.size >= config.maxSize) return 'full'
    const fresh = { value, inserted: null, deadline: null, site: label }
    model.set(key, fresh)
    stamp(fresh)
    counts.inserts++
    const s = siteOf(label)
    s.inserts++
    s.live++
    return 'insert'
  }
  const modelDelete = key => {
    const entry = model.get(key)
    if (entry === undefined) return false
    model.delete(key)
    pending.delete(entry)
    logged = true
    counts.removes++
    const s = siteOf(entry.site)
    s.removes++
    s.live--
    return true
  }
  const modelClear = () => {
    counts.removes += model.size
    pending.clear()
    logged = true
    for (const s of sites.values()) {
      s.removes += s.live
      s.live = 0
    }
    model.clear()
  }

  // Both sides: one set through `setter`, the answers compared.
  let map = null
  const doSet = (keyIndex, value, setter, check = 'set') => {
    const key = keys[keyIndex]
    const outcome = modelInsertOrOverwrite(key, value, setter.name)
    performed++
    let returned
    try {
      returned = setter(map, key, value)
    } catch (error) {
      if (outcome === 'full' && error instanceof RangeError) return
      fail(check, `set(${describeValue(key)}) threw ${error && error.stack}`)
    }
    if (outcome === 'full') fail(check, `set(${describeValue(key)}) of a new key into a full map (maxSize ${config.maxSize}) did not throw RangeError`)
    if (returned !== map) fail(check, 'set() did not return the map')
  }
  const doDelete = (keyIndex, check = 'delete') => {
    const key = keys[keyIndex]
    performed++
    expect(check, map.delete(key), modelDelete(key), `delete(${describeValue(key)})`)
  }
  const doClear = () => {
    performed++
    modelClear()
    expect('clear', map.clear(), undefined, 'clear() return value')
  }
  const doTouch = keyIndex => {
    const key = keys[keyIndex]
    performed++
    const entry = model.get(key)
    if (entry !== undefined) stamp(entry)
    expect('touch', map.touch(key), entry !== undefined, `touch(${describeValue(key)})`)
  }

  // Expiry: what the model says is due, compared with what the map hands over.
  let handed = []
  const onExpire = entry => {
    handed.push(entry)
    if (config.onExpire === 'throwHostile') hostileThrow(entry.value)
    if (config.onExpire === 'reinsert' && typeof entry.value === 'number' && entry.value % 3 === 0 && map.size < config.maxSize) {
      fuzzExpireSet(map, entry.key, entry.value + 1)
    } else if (config.onExpire === 'deleteOther') {
      map.delete(keys[config.victim])
    }
  }
  const doPurge = () => {
    performed++
    if (ttl > 0 || logged) drain(true)
    const due = ttl > 0 ? [...model].filter(([, e]) => e.deadline <= dueNow()) : []
    handed = []
    // Warnings counted, not printed: one per onExpire that threw.
    let warned = 0
    const realEmitWarning = process.emitWarning
    process.emitWarning = () => { warned++ }
    let count
    try {
      count = map.purgeExpired()
    } finally {
      process.emitWarning = realEmitWarning
    }
    const got = handed
    handed = []
    expect('purge', warned, config.onExpire === 'throwHostile' ? got.length : 0, 'warnings for onExpire errors')
    expect('purge', count, due.length, `purgeExpired() at ${now()} (due: ${due.map(([k, e]) => `${describeValue(k)}@${e.deadline}`).join(', ') || 'none'})`)
    expect('purge', got.length, due.length, 'entries handed to onExpire')
    const dueKeys = new Map(due)
    for (const entry of got) {
      const expected = dueKeys.get(entry.key)
      if (expected === undefined || !dueKeys.has(entry.key)) fail('purge', `onExpire got ${describeValue(entry.key)}, which was not due`)
      dueKeys.delete(entry.key)
      expect('purge', entry.value, expected.value, `value handed over for ${describeValue(entry.key)}`)
      expect('purge', entry.ageMs, dueNow() - expected.inserted, `ageMs handed over for ${describeValue(entry.key)}`)
      if (recorded) expect('purge', siteLabel(entry.site), expected.site, `site handed over for ${describeValue(entry.key)}`)
    }
    // The model expires what was due, then replays the hand-over in the order
    // the map chose (its order is unspecified; what onExpire does is not).
    for (const [key, entry] of due) {
      model.delete(key)
      counts.expired++
      const s = siteOf(entry.site)
      s.expired++
      s.live--
    }
    for (const entry of got) {
      if (config.onExpire === 'reinsert' && typeof entry.value === 'number' && entry.value % 3 === 0 && model.size < config.maxSize) {
        modelInsertOrOverwrite(entry.key, entry.value + 1, 'fuzzExpireSet')
        performed++
      } else if (config.onExpire === 'deleteOther') {
        modelDelete(keys[config.victim])
        performed++
      }
    }
  }

  const compareContents = check => {
    expect(check, map.size, model.size, 'size')
    const actual = [...map]
    const expected = [...model]
    expect(check, actual.length, expected.length, 'number of entries iterated')
    for (let i = 0; i < expected.length; i++) {
      if (!same(actual[i][0], expected[i][0])) fail(check, `entry ${i}: key ${describeValue(actual[i][0])}, expected ${describeValue(expected[i][0])}`)
      if (!same(actual[i][1], expected[i][1].value)) fail(check, `entry ${i} (${describeValue(expected[i][0])}): value ${describeValue(actual[i][1])}, expected ${describeValue(expected[i][1].value)}`)
    }
  }

  const compareFigures = (check, figures, what) => {
    expect(check, figures.live, model.size, `${what} live`)
    expect(check, figures.inserts, counts.inserts, `${what} inserts`)
    expect(check, figures.removes, counts.removes, `${what} removes`)
    expect(check, figures.expired, counts.expired, `${what} expired`)
  }

  const doReport = (oldest, includeKeys) => {
    performed++
    drain()
    const report = map.report({ limit: 1000, oldest, includeKeys })
    const now = readNow
    compareFigures('report', report, 'report')
    expect('report', report.overwrites, counts.overwrites, 'report overwrites')
    expect('report', report.at, now(), 'report at')
    expect('report', report.ttlMs, ttl, 'report ttlMs')
    const first = model.values().next().value
    expect('report', report.oldestAgeMs, first === undefined ? null : now() - first.inserted, 'report oldestAgeMs')
    if (recorded) {
      expect('report', report.estimated, false, 'report estimated')
      const seen = new Set()
      for (const site of report.sites) {
        const label = siteLabel(site.site)
        const s = sites.get(label)
        if (s === undefined) fail('report-sites', `report names site ${site.site}, which the model never saw`)
        if (seen.has(label)) fail('report-sites', `site ${label} reported twice`)
        seen.add(label)
        for (const figure of ['live', 'inserts', 'removes', 'expired', 'overwrites']) {
          expect('report-sites', site[figure], s[figure], `site ${label} ${figure}`)
        }
        expect('report-sites', site.live, site.inserts - site.removes - site.expired, `site ${label}: live = inserts - removes - expired`)
        let oldestInserted = Infinity
        for (const e of model.values()) if (e.site === label && e.inserted < oldestInserted) oldestInserted = e.inserted
        expect('report-sites', site.oldestAgeMs, oldestInserted === Infinity ? null : now() - oldestInserted, `site ${label} oldestAgeMs`)
      }
      for (const [label, s] of sites) {
        if (s.inserts > 0 && !seen.has(label)) fail('report-sites', `site ${label} (${s.inserts} inserts) missing from the report`)
      }
    }
    if (oldest > 0) {
      const entries = report.oldestEntries
      const expected = [...model].slice(0, oldest)
      expect('report-oldest', entries.length, expected.length, 'oldestEntries length')
      expected.forEach(([key, e], i) => {
        expect('report-oldest', entries[i].ageMs, now() - e.inserted, `oldestEntries[${i}].ageMs`)
        if (recorded) expect('report-oldest', siteLabel(entries[i].site), e.site, `oldestEntries[${i}].site`)
        if (includeKeys) {
          if (typeof entries[i].key !== 'string' || entries[i].key.length > 203) fail('report-oldest', `oldestEntries[${i}].key is not bounded text`)
          if (typeof key === 'string' && key.length <= 200) expect('report-oldest', entries[i].key, key, `oldestEntries[${i}].key`)
        } else if ('key' in entries[i]) {
          fail('report-oldest', 'oldestEntries carry keys without includeKeys')
        }
      })
    }
  }

  const doSnapshot = () => {
    performed++
    drain()
    const snapshot = registry.snapshot()
    const mine = snapshot.maps.filter(m => m.id === nativeLedgerOf(map).id)
    expect('snapshot', mine.length, 1, 'maps with this id in the snapshot')
    compareFigures('snapshot', mine[0], 'snapshot')
    const figures = { live: model.size, inserts: counts.inserts, removes: counts.removes, expired: counts.expired }
    if (lastSnapshot !== null) {
      const diff = registry.diff(lastSnapshot, snapshot)
      const d = diff.maps.find(m => m.id === nativeLedgerOf(map).id)
      for (const figure of ['live', 'inserts', 'removes', 'expired']) {
        const delta = figures[figure] - lastFigures[figure]
        expect('diff', d === undefined ? 0 : d[`${figure}Delta`], delta, `diff ${figure}Delta`)
      }
    }
    lastSnapshot = snapshot
    lastFigures = figures
  }

  const doInfo = keyIndex => {
    const key = keys[keyIndex]
    performed++
    const entry = model.get(key)
    if (entry !== undefined) drain()
    const now = readNow
    const info = map.info(key)
    if (entry === undefined) return expect('info', info, undefined, `info(${describeValue(key)}) of an absent key`)
    if (info === undefined) fail('info', `info(${describeValue(key)}) is undefined for a live key`)
    // On the default clock insertedAt is wall-clock time, for display.
    if (!onDefaultClock) expect('info', info.insertedAt, entry.inserted, 'info insertedAt')
    expect('info', info.ageMs, now() - entry.inserted, 'info ageMs')
    expect('info', info.expiresInMs, ttl > 0 ? Math.max(0, entry.deadline - now()) : null, 'info expiresInMs')
    if (recorded) expect('info', siteLabel(info.site), entry.site, 'info site')
  }

  // Iteration while the map changes: both sides step in lockstep and apply
  // the same action at the same step.
  const applyAction = (action, currentKey) => {
    switch (action[0]) {
      case 'deleteCurrent': {
        performed++
        expect('iterate', map.delete(currentKey), modelDelete(currentKey), 'delete(current key) during iteration')
        return
      }
      case 'delete': return doDelete(action[1], 'iterate')
      case 'set': return doSet(action[1], action[2], fuzzIterSet, 'iterate')
      case 'clear': return doClear()
      case 'tick': clockValue += action[1]; return
      case 'purge': return doPurge()
      case 'touch': return doTouch(action[1])
    }
  }
  const doIterate = (kind, plan) => {
    const actions = new Map()
    for (const [step, action] of plan) if (!actions.has(step)) actions.set(step, action)
    const modelIterator = model.entries()
    let step = 0
    const visit = (key, value) => {
      performed++
      const next = modelIterator.next()
      if (next.done) fail('iterate', `${kind}: step ${step} visited ${describeValue(key)}, the model's iteration had ended`)
      const [mKey, mEntry] = next.value
      if (kind !== 'values' && !same(key, mKey)) fail('iterate', `${kind}: step ${step} visited key ${describeValue(key)}, expected ${describeValue(mKey)}`)
      if (kind !== 'keys' && !same(value, mEntry.value)) fail('iterate', `${kind}: step ${step} value ${describeValue(value)}, expected ${describeValue(mEntry.value)}`)
      const action = actions.get(step)
      if (action !== undefined) applyAction(action, mKey)
      if (++step > 10_000) fail('iterate', `${kind}: iteration does not end`)
    }
    if (kind === 'forEach') {
      const thisArg = {}
      map.forEach(function (value, key, self) {
        if (this !== thisArg) fail('iterate', 'forEach: wrong thisArg')
        if (self !== map) fail('iterate', 'forEach: third argument is not the map')
        visit(key, value)
      }, thisArg)
    } else {
      const iterable = kind === 'keys' ? map.keys() : kind === 'values' ? map.values() : kind === 'entries' ? map.entries() : map[Symbol.iterator]()
      for (const item of iterable) {
        if (kind === 'keys') visit(item, undefined)
        else if (kind === 'values') visit(undefined, item)
        else visit(item[0], item[1])
      }
    }
    if (!modelIterator.next().done) fail('iterate', `${kind}: iteration ended after ${step} steps, before the model's`)
  }

  const doBulk = (n, keepOneIn) => {
    for (let i = 0; i < n; i++) {
      const key = `bulk${i}`
      const outcome = modelInsertOrOverwrite(key, i, 'fuzzBulkSet')
      performed++
      try {
        fuzzBulkSet(map, key, i)
        if (outcome === 'full') fail('bulk', 'set into a full map did not throw RangeError')
      } catch (error) {
        if (!(outcome === 'full' && error instanceof RangeError)) throw error
      }
    }
    for (let i = 0; i < n; i++) {
      if (i % keepOneIn === 0 && keepOneIn > 1) continue
      const key = `bulk${i}`
      performed++
      expect('bulk', map.delete(key), modelDelete(key), `delete(${key})`)
    }
  }

  // set/delete/touch/clear called ever further from the stack's edge until
  // it completes (and then as the model says): each attempt before must
  // throw RangeError and change nothing.
  const doEdge = (kind, keyIndex, value) => {
    const key = keys[keyIndex]
    performed++
    const calls = {
      set: () => fuzzEdgeSet(map, key, value),
      delete: () => map.delete(key),
      touch: () => map.touch(key),
      clear: () => map.clear()
    }
    // A new key into a full map: its RangeError is the answer.
    const refused = error => kind === 'set' && !model.has(key) && model.size >= config.maxSize && error instanceof RangeError && /is full/.test(error.message)
    let outcome
    for (let back = Math.max(0, edgeReach - 12); ; back++) {
      outcome = nearStackEdge(back, calls[kind])
      if (outcome.error === undefined || refused(outcome.error)) {
        edgeReach = back
        break
      }
      if (!(outcome.error instanceof RangeError)) fail('edge', `${kind} near the stack's edge threw ${outcome.error && outcome.error.stack}`)
      if (back > 10_000) fail('edge', `${kind} never completed`)
      expect('edge', map.size, model.size, `size after ${kind} threw RangeError ${back} frames from the edge`)
      expect('edge', map.has(key), model.has(key), `has(${describeValue(key)}) after ${kind} threw RangeError ${back} frames from the edge`)
    }
    switch (kind) {
      case 'set': {
        // Near the edge the capture itself may find no frame: the site is
        // then an unknown location, which the map says.
        // (info() drains the map: the model drains after the insert too.)
        let label = 'fuzzEdgeSet'
        const peek = recorded && !model.has(key) && outcome.error === undefined
        if (peek) {
          label = siteLabel(map.info(key).site)
          if (label !== 'fuzzEdgeSet' && label !== 'unknownSite') fail('edge', `set near the stack's edge recorded site ${label}`)
        }
        const full = modelInsertOrOverwrite(key, value, label) === 'full'
        if (peek) drain()
        if (full !== (outcome.error !== undefined)) fail('edge', `set(${describeValue(key)}) near the stack's edge: ${full ? 'a full map did not refuse it' : `threw ${outcome.error}`}`)
        if (full) return
        if (outcome.value !== map) fail('edge', 'set() did not return the map')
        return
      }
      case 'delete': return expect('edge', outcome.value, modelDelete(key), `delete(${describeValue(key)}) near the stack's edge`)
      case 'touch': {
        const entry = model.get(key)
        if (entry !== undefined) stamp(entry)
        return expect('edge', outcome.value, entry !== undefined, `touch(${describeValue(key)}) near the stack's edge`)
      }
      case 'clear': modelClear(); return expect('edge', outcome.value, undefined, 'clear() near the stack\'s edge')
    }
  }
  // The wall clock stepped (NTP, a VM resume): no map may notice.
  const realDateNow = Date.now
  let wallOffset = 0
  const doWallStep = offset => {
    performed++
    wallOffset += offset
    Date.now = () => realDateNow() + wallOffset
  }
  const restorePerformance = onDefaultClock ? fakePerformance(() => clockValue) : () => {}

  try {
    // Construction (with entries, like Map's constructor).
    at = -1
    const options = {
      name: `fuzz-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      ttl: config.ttl,
      callSites: config.callSites,
      sampleRate: config.sampleRate,
      maxSize: config.maxSize,
      strict: false,
      flushInterval: 60_000,
      clock: onDefaultClock ? undefined : () => clockValue,
      onExpire
    }
    if (config.entries !== null) {
      let full = false
      for (const [k, v] of config.entries) if (modelInsertOrOverwrite(keys[k], v, 'fuzzConstruct') === 'full') full = true
      performed += config.entries.length + 1
      try {
        map = fuzzConstruct(MapClass, config.entries.map(([k, v]) => [keys[k], v]), options)
      } catch (error) {
        if (full && error instanceof RangeError) return { ops: performed, failure: null }
        throw error
      }
      if (full) fail('construct', 'entries beyond maxSize did not throw RangeError')
    } else {
      performed++
      map = new MapClass(options)
    }
    compareContents('construct')

    for (at = 0; at < ops.length; at++) {
      const op = ops[at]
      switch (op[0]) {
        case 'set': doSet(op[1], op[2], SETTERS[op[3]]); break
        case 'get': performed++; expect('get', map.get(keys[op[1]]), model.has(keys[op[1]]) ? model.get(keys[op[1]]).value : undefined, `get(${describeValue(keys[op[1]])})`); break
        case 'has': performed++; expect('has', map.has(keys[op[1]]), model.has(keys[op[1]]), `has(${describeValue(keys[op[1]])})`); break
        case 'delete': doDelete(op[1]); break
        case 'clear': doClear(); break
        case 'touch': doTouch(op[1]); break
        case 'info': doInfo(op[1]); break
        case 'tick': clockValue += op[1]; break
        case 'purge': doPurge(); break
        case 'report': doReport(op[1], op[2]); break
        case 'snapshot': doSnapshot(); break
        case 'iterate': doIterate(op[1], op[2]); break
        case 'bulk': doBulk(op[1], op[2]); break
        case 'edge': doEdge(op[1], op[2], op[3]); break
        case 'wallStep': doWallStep(op[1]); break
        default: throw new Error(`unknown op ${op[0]}`)
      }
      expect(op[0], map.size, model.size, `size after ${op[0]}`)
      if (model.size <= 64 || at % 64 === 0) compareContents(op[0])
    }
    at = ops.length
    compareContents('end')
    doReport(0, false)
    performed++
    map.close()
    if (registry.report({ map: options.name }).maps.length !== 0) fail('close', 'a closed map is still in registry.report()')
    return { ops: performed, failure: null }
  } catch (error) {
    if (map !== null) {
      try { map.close() } catch {}
    }
    const check = error instanceof Divergence ? error.check : `exception in ${at >= 0 && at < ops.length ? ops[at][0] : at < 0 ? 'construct' : 'end'}`
    const message = error instanceof Divergence ? error.message : `threw ${error && error.stack}`
    return { ops: performed, failure: { at, check, message } }
  } finally {
    Date.now = realDateNow
    restorePerformance()
  }
}

// ---- minimisation (delta debugging) -------------------------------------

/** ddmin (Zeller): a 1-minimal subsequence of `ops` that still fails with `check`. */
function minimise (testCase, check, options) {
  const fails = ops => {
    const result = runCase({ config: testCase.config, ops }, options)
    return result.failure !== null && result.failure.check === check
  }
  let ops = testCase.ops
  let granularity = 2
  while (ops.length >= 2) {
    const chunk = Math.ceil(ops.length / granularity)
    let reduced = false
    for (let start = 0; start < ops.length; start += chunk) {
      const complement = ops.slice(0, start).concat(ops.slice(start + chunk))
      if (fails(complement)) {
        ops = complement
        granularity = Math.max(granularity - 1, 2)
        reduced = true
        break
      }
    }
    if (!reduced) {
      if (granularity >= ops.length) break
      granularity = Math.min(granularity * 2, ops.length)
    }
  }
  if (ops.length === 1 && fails([])) ops = []
  // Simpler iteration plans and constructor entries, where they still fail.
  ops = ops.map(op => {
    if (op[0] !== 'iterate') return op
    let plan = op[2]
    for (let i = plan.length - 1; i >= 0; i--) {
      const fewer = plan.slice(0, i).concat(plan.slice(i + 1))
      const candidate = ops.map(o => (o === op ? ['iterate', op[1], fewer] : o))
      if (fails(candidate)) plan = fewer
    }
    return plan === op[2] ? op : ['iterate', op[1], plan]
  })
  const config = { ...testCase.config }
  if (config.entries !== null) {
    for (let i = config.entries.length - 1; i >= 0; i--) {
      const entries = config.entries.slice(0, i).concat(config.entries.slice(i + 1))
      const result = runCase({ config: { ...config, entries }, ops }, options)
      if (result.failure !== null && result.failure.check === check) config.entries = entries
    }
  }
  return { config, ops }
}

// ---- reproduction --------------------------------------------------------

function reproduction ({ config, ops }, failure) {
  const used = new Set()
  const useKey = k => { used.add(k); return `keys[${k}]` }
  const lines = []
  const opLine = (op, indent = '') => {
    switch (op[0]) {
      case 'set': return `${indent}map.set(${useKey(op[1])}, ${op[2]}) // via ${SETTERS[op[3]].name}`
      case 'get': case 'has': case 'delete': case 'touch': case 'info':
        return `${indent}map.${op[0]}(${useKey(op[1])})`
      case 'clear': return `${indent}map.clear()`
      case 'tick': return `${indent}now += ${op[1]}`
      case 'purge': return `${indent}map.purgeExpired()`
      case 'report': return `${indent}map.report({ limit: 1000, oldest: ${op[1]}, includeKeys: ${op[2]} })`
      case 'snapshot': return `${indent}registry.snapshot()`
      case 'edge': {
        const call = op[1] === 'set' ? `map.set(${useKey(op[2])}, ${op[3]})` : op[1] === 'clear' ? 'map.clear()' : `map.${op[1]}(${useKey(op[2])})`
        return `${indent}for (let back = 0; nearStackEdge(back, () => ${call}).error !== undefined; back++) console.log(map.size)`
      }
      case 'wallStep': return `${indent}wallOffset += ${op[1]}; Date.now = () => realDateNow() + wallOffset`
      case 'bulk': return `${indent}for (let i = 0; i < ${op[1]}; i++) map.set(\`bulk\${i}\`, i)\n${indent}for (let i = 0; i < ${op[1]}; i++) if (${op[2]} === 1 || i % ${op[2]} !== 0) map.delete(\`bulk\${i}\`)`
      case 'iterate': {
        const plan = op[2].map(([step, action]) => {
          const text = action[0] === 'deleteCurrent'
            ? 'map.delete(key)'
            : action[0] === 'tick' ? `now += ${action[1]}` : action[0] === 'purge' ? 'map.purgeExpired()' : opLine([action[0], action[1], action[2], 0]).replace(/ \/\/ via .*/, '')
          return `    if (step === ${step}) ${text}`
        })
        const head = op[1] === 'forEach'
          ? `${indent}{ let step = 0; map.forEach((value, key) => {`
          : `${indent}{ let step = 0; for (const item of map${op[1] === 'iterator' ? '[Symbol.iterator]' : '.' + op[1]}()) { const key = ${op[1] === 'keys' ? 'item' : op[1] === 'values' ? 'undefined' : 'item[0]'}`
        return [head, ...plan, `    step++`, op[1] === 'forEach' ? `${indent}}) }` : `${indent}} }`].join('\n')
      }
    }
    return `${indent}// ${JSON.stringify(op)}`
  }
  const body = ops.map((op, i) => opLine(op) + (i === failure.at ? `   // <- ${failure.check}: ${failure.message.split('\n')[0]}` : ''))
  const entries = config.entries === null ? '' : `[${config.entries.map(([k, v]) => `[${useKey(k)}, ${v}]`).join(', ')}], `
  const onExpire = config.onExpire === 'reinsert'
    ? 'entry => { if (typeof entry.value === \'number\' && entry.value % 3 === 0 && map.size < maxSize) map.set(entry.key, entry.value + 1) }'
    : config.onExpire === 'deleteOther'
      ? `() => { map.delete(${useKey(config.victim)}) }`
      : config.onExpire === 'throwHostile' ? `entry => { (${HOSTILE_THROW_SOURCE.replace(/\n\s*/g, ' ')})(entry.value) }` : 'entry => {}'
  const keyLines = [...used].sort((a, b) => a - b).map(k => `  ${k}: ${KEY_SPECS[k][0]},`)
  lines.push(
    `const { HandleMap, registry } = require(${JSON.stringify(require('node:path').join(__dirname, '..'))})`,
    ...(keyLines.some(l => l.includes('throwingTraps')) ? ['const throwingTraps = { get () { throw new Error(\'trap\') }, ownKeys () { throw new Error(\'trap\') }, getPrototypeOf () { throw new Error(\'trap\') } }'] : []),
    `let now = ${config.start}`,
    ...(config.clock === 'default'
      ? ['// The default clock, driven by `now`', 'Object.defineProperty(performance, \'timeOrigin\', { value: 0 })', 'performance.now = () => now']
      : []),
    ...(ops.some(op => op[0] === 'edge') ? [NEAR_STACK_EDGE_SOURCE] : []),
    ...(ops.some(op => op[0] === 'wallStep') ? ['const realDateNow = Date.now', 'let wallOffset = 0'] : []),
    `const maxSize = ${config.maxSize}`,
    'const keys = {',
    ...keyLines,
    '}',
    `const map = new HandleMap(${entries}{ ttl: ${config.ttl}, callSites: '${config.callSites}', sampleRate: ${config.sampleRate}, maxSize, strict: false, flushInterval: 60000, ${config.clock === 'default' ? '' : 'clock: () => now, '}onExpire: ${onExpire} })`,
    ...body
  )
  if (failure.at >= ops.length) lines.push(`map.report({ limit: 1000 })   // <- ${failure.check}: ${failure.message.split('\n')[0]}`)
  return lines.join('\n')
}

// ---- driver ---------------------------------------------------------------------

/**
 * Fuzzes for `seconds` (or `cases` cases, whichever ends first) from `seed`.
 * Resolves `{ ok, seed, cases, ops, failure }`; `failure` carries the
 * minimised case, its reproduction and the JSON to replay it.
 *
 * It yields to the event loop every 50 cases: a map's WeakRef (its timer
 * holds it weakly) keeps it alive until the current job ends, so a job that
 * never ends would keep every map it ever created (32 KB of op log each).
 */
async function fuzz (options = {}) {
  const {
    seconds = 10,
    seed = (Date.now() ^ process.pid) >>> 0,
    cases = Infinity,
    maxOps = 200,
    log = () => {},
    MapClass = HandleMap,
    minimize = true
  } = options
  const master = rng(seed)
  const deadline = Date.now() + seconds * 1000
  let ops = 0
  let done = 0
  while (done < cases && Date.now() < deadline) {
    const caseSeed = master.next()
    const testCase = generateCase(caseSeed, maxOps)
    const result = runCase(testCase, { MapClass })
    ops += result.ops
    done++
    if (result.failure !== null) {
      const { check, message } = result.failure
      log(`divergence in case ${done} (case seed ${caseSeed}) after ${testCase.ops.length} ops: ${check}: ${message.split('\n')[0]}`)
      const small = minimize ? minimise(testCase, check, { MapClass }) : testCase
      const replayed = runCase(small, { MapClass })
      const failure = replayed.failure !== null ? replayed.failure : result.failure
      return {
        ok: false,
        seed,
        cases: done,
        ops,
        failure: {
          caseSeed,
          check: failure.check,
          message: failure.message,
          originalLength: testCase.ops.length,
          case: small,
          reproduction: reproduction(small, failure),
          json: JSON.stringify(small, (k, v) => (v === Infinity ? 'Infinity' : v))
        }
      }
    }
    if (done % 2000 === 0) log(`  ${done} cases, ${ops} operations`)
    if (done % 50 === 0) await new Promise(resolve => setImmediate(resolve))
  }
  return { ok: true, seed, cases: done, ops, failure: null }
}

function parseCase (json) {
  return JSON.parse(json, (k, v) => (v === 'Infinity' ? Infinity : v))
}

async function main () {
  const argv = process.argv.slice(2)
  const options = { log: line => console.log(line) }
  let replay = null
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--seconds') options.seconds = Number(argv[++i])
    else if (arg === '--seed') options.seed = Number(argv[++i]) >>> 0
    else if (arg === '--cases') options.cases = Number(argv[++i])
    else if (arg === '--max-ops') options.maxOps = Number(argv[++i])
    else if (arg === '--replay') replay = argv[++i]
    else {
      console.error(`unknown argument ${arg}\nusage: node bench/fuzz.js --seconds N [--seed S] [--cases N] [--max-ops N] | --replay case.json`)
      process.exit(2)
    }
  }
  if (replay !== null) {
    const testCase = parseCase(require('node:fs').readFileSync(replay, 'utf8'))
    const result = runCase(testCase)
    if (result.failure === null) {
      console.log(`replay: no divergence (${result.ops} operations)`)
      return
    }
    console.log(`replay: ${result.failure.check}: ${result.failure.message}\n\n${reproduction(testCase, result.failure)}`)
    process.exitCode = 1
    return
  }
  const started = Date.now()
  const result = await fuzz(options)
  const secs = (Date.now() - started) / 1000
  if (result.ok) {
    console.log(`fuzz: ${result.ops} operations in ${result.cases} cases, ${secs.toFixed(1)} s (${Math.round(result.ops / secs)} ops/s), seed ${result.seed}: no divergence`)
    return
  }
  const f = result.failure
  console.log(`fuzz: DIVERGENCE after ${result.ops} operations in ${result.cases} cases (seed ${result.seed}, case seed ${f.caseSeed})`)
  console.log(`${f.check}: ${f.message}`)
  console.log(`minimised from ${f.originalLength} to ${f.case.ops.length} operations. Reproduction:\n\n${f.reproduction}\n`)
  console.log(`replay: save this line to case.json and run node bench/fuzz.js --replay case.json\n${f.json}`)
  process.exitCode = 1
}

module.exports = { fuzz, runCase, generateCase, minimise, reproduction, KEY_SPECS }

if (require.main === module) {
  main().catch(error => {
    console.error(error)
    process.exitCode = 1
  })
}
