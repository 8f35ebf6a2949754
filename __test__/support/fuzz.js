'use strict'
// Differential fuzzer: random operation sequences against a HandleMap and a
// model (a plain Map plus a model of TTL expiry under a fake clock), compared
// after every operation. On a divergence the sequence is minimised (delta
// debugging) and printed as a script that reproduces it. `Model` is what the
// map must hold and count; `CaseRunner` drives one case on both sides.
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

const { HandleMap, registry } = require('../..')
const nativeLedgerOf = require('../../lib/map/handle-map.js').internals.nativeLedger
const { callNearStackEdge, NEAR_STACK_EDGE_SOURCE } = require('./stack-edge.js')

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
const hostileThrow = new Function(`return ${HOSTILE_THROW_SOURCE}`)()

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
      // A purge at the edge only where onExpire only records: a callback that
      // re-enters the map would meet the edge itself, which no model foretells.
      const purges = config.onExpire === 'record' ? ['purge'] : []
      ops.push(['edge', r.pick(['set', 'set', 'delete', 'touch', 'clear', ...purges]), key(), r.below(1000)])
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

// ---- the model -----------------------------------------------------------------

/**
 * What a HandleMap must hold and count: a Map of entries (insertion order is
 * Map's), TTL deadlines under the fake clock, and the figures a report shows
 * per map and per insert site. Plain data: it never touches a HandleMap.
 *
 * The ledger stamps operations with the clock rounded up (a deadline is never
 * early) and reads ages at its latest stamp; what is due is checked with the
 * clock rounded down. The `now` a method takes is the rounded-up clock.
 * Every operation is stamped as it happens. On the default clock a read
 * drains only a log with something in it (`lazyFlush`): a custom clock may
 * have moved with no operation, so its map always drains.
 */
class Model {
  constructor ({ ttl, maxSize, lazyFlush }) {
    this.ttl = ttl
    this.maxSize = maxSize
    this.lazyFlush = lazyFlush
    this.entries = new Map() // key -> { value, inserted, deadline, site }
    this.counts = { inserts: 0, removes: 0, expired: 0, overwrites: 0 }
    this.sites = new Map() // label -> { live, inserts, removes, expired, overwrites }
    this.logged = false // whether anything waits in the log (a drain happens only then)
    this.ledgerNow = -Infinity // the ledger's clock: its latest stamp
  }

  /** An operation on `entry` at `now`. */
  stamp (entry, now) {
    if (entry.inserted === null) entry.inserted = now
    entry.deadline = now + this.ttl
    this.ledgerNow = Math.max(this.ledgerNow, now)
    this.logged = true
  }

  /**
   * A drain (info/report/purge/snapshot) at `now`. With `lazyFlush` a
   * flush drains only a log with something in it; an expiry tick (`always`)
   * does.
   */
  drain (now, always = false) {
    if (this.lazyFlush && !this.logged && !always) return
    this.logged = false
    this.ledgerNow = Math.max(this.ledgerNow, now)
  }

  /** The clock a read ages entries at (`dueNow`: the clock rounded down): the ledger's, or later. */
  readNow (dueNow) {
    return Math.max(dueNow, this.ledgerNow)
  }

  get size () {
    return this.entries.size
  }

  site (label) {
    let site = this.sites.get(label)
    if (site === undefined) this.sites.set(label, (site = { live: 0, inserts: 0, removes: 0, expired: 0, overwrites: 0 }))
    return site
  }

  /** Returns 'overwrite', 'insert', or 'full' (a new key refused by maxSize). */
  set (key, value, label, now) {
    const entry = this.entries.get(key)
    if (entry !== undefined) {
      entry.value = value
      this.stamp(entry, now)
      this.counts.overwrites++
      this.site(entry.site).overwrites++
      return 'overwrite'
    }
    if (this.entries.size >= this.maxSize) return 'full'
    const fresh = { value, inserted: null, deadline: null, site: label }
    this.entries.set(key, fresh)
    this.stamp(fresh, now)
    this.counts.inserts++
    const site = this.site(label)
    site.inserts++
    site.live++
    return 'insert'
  }

  delete (key) {
    const entry = this.entries.get(key)
    if (entry === undefined) return false
    this.entries.delete(key)
    this.logged = true
    this.counts.removes++
    const site = this.site(entry.site)
    site.removes++
    site.live--
    return true
  }

  clear () {
    this.counts.removes += this.entries.size
    this.logged = true
    for (const site of this.sites.values()) {
      site.removes += site.live
      site.live = 0
    }
    this.entries.clear()
  }

  /** Restarts a live entry's TTL; false for an absent key. */
  touch (key, now) {
    const entry = this.entries.get(key)
    if (entry !== undefined) this.stamp(entry, now)
    return entry !== undefined
  }

  /** The `[key, entry]` pairs due at `dueNow` (the clock rounded down), in insertion order. */
  due (dueNow) {
    return this.ttl > 0 ? [...this.entries].filter(([, entry]) => entry.deadline <= dueNow) : []
  }

  expire (due) {
    for (const [key, entry] of due) {
      this.entries.delete(key)
      this.counts.expired++
      const site = this.site(entry.site)
      site.expired++
      site.live--
    }
  }

  figures () {
    return { live: this.entries.size, inserts: this.counts.inserts, removes: this.counts.removes, expired: this.counts.expired }
  }

  /** The insert time of the oldest live entry of `label`'s site, or Infinity. */
  oldestInserted (label) {
    let oldest = Infinity
    for (const entry of this.entries.values()) if (entry.site === label && entry.inserted < oldest) oldest = entry.inserted
    return oldest
  }
}

// ---- the driver: one case against a HandleMap and the model ---------------------

/**
 * Runs one case's operations on both sides, in lockstep, and compares every
 * answer. A divergence throws a `Divergence`; `run()` turns it (or any
 * exception) into the case's failure.
 */
class CaseRunner {
  constructor ({ config, ops }, MapClass) {
    this.config = config
    this.ops = ops
    this.MapClass = MapClass
    this.keys = makeKeys()
    keyLabels = new Map(this.keys.map((key, i) => [key, KEY_SPECS[i][0]]))
    keyLabels.set(0, '0') // -0 and +0 are one key
    this.clockValue = config.start
    this.ttl = Math.ceil(config.ttl)
    this.recorded = config.callSites === 'all'
    // 'default': the monotonic clock, read through a fake `performance`.
    this.onDefaultClock = config.clock === 'default'
    // Every operation is stamped as it happens, on either clock (the default one
    // from its coarse ticker, or exactly while performance.now is replaced, as here).
    this.model = new Model({ ttl: this.ttl, maxSize: config.maxSize, lazyFlush: this.onDefaultClock })
    this.map = null
    this.performed = 0
    this.at = -1 // the operation being run: -1 while constructing, ops.length at the end
    this.handed = [] // entries handed to onExpire since the last purge
    this.lastSnapshot = null
    this.lastFigures = null
    this.wallClock = { realDateNow: Date.now, offset: 0 } // Date.now, as 'wallStep' ops move it
  }

  /** The clock rounded up, as the ledger stamps operations. */
  now () {
    return Math.ceil(this.clockValue)
  }

  /** The clock rounded down, as the ledger checks what is due. */
  dueNow () {
    return Math.floor(this.clockValue)
  }

  /** The map drains its log (info/report/purge/snapshot do). */
  drain (always = false) {
    this.model.drain(this.now(), always)
  }

  /** The clock a read ages entries at. */
  readNow () {
    return this.model.readNow(this.dueNow())
  }

  fail (check, message) {
    throw new Divergence(check, message)
  }

  expect (check, actual, expected, what) {
    if (!same(actual, expected)) this.fail(check, `${what}: got ${describeValue(actual)}, expected ${describeValue(expected)}`)
  }

  /** `{ ops: operations performed, failure: null | { at, check, message } }` */
  run () {
    // The case may step the wall clock and drive `performance`: both are
    // the process's, restored however the case ends.
    const { realDateNow } = this.wallClock
    const restorePerformance = this.onDefaultClock ? fakePerformance(() => this.clockValue) : () => {}
    try {
      return this.runOps()
    } finally {
      Date.now = realDateNow
      restorePerformance()
    }
  }

  /** `run()` with the clocks in place. */
  runOps () {
    try {
      if (!this.construct()) return { ops: this.performed, failure: null }
      for (this.at = 0; this.at < this.ops.length; this.at++) {
        const op = this.ops[this.at]
        this.step(op)
        this.expect(op[0], this.map.size, this.model.size, `size after ${op[0]}`)
        if (this.model.size <= 64 || this.at % 64 === 0) this.compareContents(op[0])
      }
      this.at = this.ops.length
      this.finish()
      return { ops: this.performed, failure: null }
    } catch (error) {
      if (this.map !== null) {
        try { this.map.close() } catch {}
      }
      const { at, ops } = this
      const check = error instanceof Divergence ? error.check : `exception in ${at >= 0 && at < ops.length ? ops[at][0] : at < 0 ? 'construct' : 'end'}`
      const message = error instanceof Divergence ? error.message : `threw ${error && error.stack}`
      return { ops: this.performed, failure: { at, check, message } }
    }
  }

  /** Construction (with entries, like Map's constructor); false when refused as it must be. */
  construct () {
    const { config } = this
    this.options = {
      name: `fuzz-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      ttl: config.ttl,
      callSites: config.callSites,
      sampleRate: config.sampleRate,
      maxSize: config.maxSize,
      strict: false,
      flushInterval: 60_000,
      clock: this.onDefaultClock ? undefined : () => this.clockValue,
      onExpire: entry => this.onExpire(entry)
    }
    if (config.entries === null) {
      this.performed++
      this.map = new this.MapClass(this.options)
    } else {
      let full = false
      for (const [k, v] of config.entries) if (this.model.set(this.keys[k], v, 'fuzzConstruct', this.now()) === 'full') full = true
      this.performed += config.entries.length + 1
      try {
        this.map = fuzzConstruct(this.MapClass, config.entries.map(([k, v]) => [this.keys[k], v]), this.options)
      } catch (error) {
        if (full && error instanceof RangeError) return false
        throw error
      }
      if (full) this.fail('construct', 'entries beyond maxSize did not throw RangeError')
    }
    this.compareContents('construct')
    return true
  }

  step (op) {
    switch (op[0]) {
      case 'set': return this.set(op[1], op[2], SETTERS[op[3]])
      case 'get': return this.get(op[1])
      case 'has': return this.has(op[1])
      case 'delete': return this.delete(op[1])
      case 'clear': return this.clear()
      case 'touch': return this.touch(op[1])
      case 'info': return this.info(op[1])
      case 'tick': this.clockValue += op[1]; return
      case 'purge': return this.purge()
      case 'report': return this.report(op[1], op[2])
      case 'snapshot': return this.snapshot()
      case 'iterate': return this.iterate(op[1], op[2])
      case 'bulk': return this.bulk(op[1], op[2])
      case 'edge': return this.edge(op[1], op[2], op[3])
      case 'wallStep': return this.wallStep(op[1])
      default: throw new Error(`unknown op ${op[0]}`)
    }
  }

  /** The end of a case: contents, a last report, and close() leaves the registry. */
  finish () {
    this.compareContents('end')
    this.report(0, false)
    this.performed++
    this.map.close()
    if (registry.report({ map: this.options.name }).maps.length !== 0) this.fail('close', 'a closed map is still in registry.report()')
  }

  // ---- operations: each on both sides, the answers compared ----

  set (keyIndex, value, setter, check = 'set') {
    const key = this.keys[keyIndex]
    const outcome = this.model.set(key, value, setter.name, this.now())
    this.performed++
    let returned
    try {
      returned = setter(this.map, key, value)
    } catch (error) {
      if (outcome === 'full' && error instanceof RangeError) return
      this.fail(check, `set(${describeValue(key)}) threw ${error && error.stack}`)
    }
    if (outcome === 'full') this.fail(check, `set(${describeValue(key)}) of a new key into a full map (maxSize ${this.config.maxSize}) did not throw RangeError`)
    if (returned !== this.map) this.fail(check, 'set() did not return the map')
  }

  get (keyIndex) {
    const key = this.keys[keyIndex]
    this.performed++
    const entry = this.model.entries.get(key)
    this.expect('get', this.map.get(key), entry === undefined ? undefined : entry.value, `get(${describeValue(key)})`)
  }

  has (keyIndex) {
    const key = this.keys[keyIndex]
    this.performed++
    this.expect('has', this.map.has(key), this.model.entries.has(key), `has(${describeValue(key)})`)
  }

  delete (keyIndex, check = 'delete') {
    const key = this.keys[keyIndex]
    this.performed++
    this.expect(check, this.map.delete(key), this.model.delete(key), `delete(${describeValue(key)})`)
  }

  clear () {
    this.performed++
    this.model.clear()
    this.expect('clear', this.map.clear(), undefined, 'clear() return value')
  }

  touch (keyIndex) {
    const key = this.keys[keyIndex]
    this.performed++
    this.expect('touch', this.map.touch(key), this.model.touch(key, this.now()), `touch(${describeValue(key)})`)
  }

  info (keyIndex) {
    const key = this.keys[keyIndex]
    this.performed++
    const entry = this.model.entries.get(key)
    if (entry !== undefined) this.drain()
    const info = this.map.info(key)
    if (entry === undefined) return this.expect('info', info, undefined, `info(${describeValue(key)}) of an absent key`)
    if (info === undefined) this.fail('info', `info(${describeValue(key)}) is undefined for a live key`)
    const now = this.readNow()
    // On the default clock insertedAt is wall-clock time, for display.
    if (!this.onDefaultClock) this.expect('info', info.insertedAt, entry.inserted, 'info insertedAt')
    this.expect('info', info.ageMs, now - entry.inserted, 'info ageMs')
    this.expect('info', info.expiresInMs, this.ttl > 0 ? Math.max(0, entry.deadline - now) : null, 'info expiresInMs')
    if (this.recorded) this.expect('info', siteLabel(info.site), entry.site, 'info site')
  }

  // What onExpire does: record the entry, and throw or re-enter the map as configured.
  onExpire (entry) {
    this.handed.push(entry)
    const { config, map } = this
    if (config.onExpire === 'throwHostile') hostileThrow(entry.value)
    if (this.reinserts(entry, map.size)) {
      fuzzExpireSet(map, entry.key, entry.value + 1)
    } else if (config.onExpire === 'deleteOther') {
      map.delete(this.keys[config.victim])
    }
  }

  reinserts (entry, size) {
    return this.config.onExpire === 'reinsert' && typeof entry.value === 'number' && entry.value % 3 === 0 && size < this.config.maxSize
  }

  // Expiry: what the model says is due, compared with what the map hands over.
  purge () {
    this.performed++
    if (this.ttl > 0 || this.model.logged) this.drain(true)
    const dueNow = this.dueNow()
    const due = this.model.due(dueNow)
    this.handed = []
    const { count, warned } = this.purgeCountingWarnings()
    const got = this.handed
    this.handed = []
    this.expect('purge', warned, this.config.onExpire === 'throwHostile' ? got.length : 0, 'warnings for onExpire errors')
    this.expect('purge', count, due.length, `purgeExpired() at ${this.now()} (due: ${due.map(([k, e]) => `${describeValue(k)}@${e.deadline}`).join(', ') || 'none'})`)
    this.expect('purge', got.length, due.length, 'entries handed to onExpire')
    this.compareHandOver(got, due, dueNow)
    // The model expires what was due, then replays the hand-over in the order
    // the map chose (its order is unspecified; what onExpire does is not).
    this.model.expire(due)
    this.replayHandOver(got)
  }

  /** Each entry handed to onExpire was due, with its value, age and site. */
  compareHandOver (got, due, dueNow) {
    const dueKeys = new Map(due)
    for (const entry of got) {
      const expected = dueKeys.get(entry.key)
      if (expected === undefined || !dueKeys.has(entry.key)) this.fail('purge', `onExpire got ${describeValue(entry.key)}, which was not due`)
      dueKeys.delete(entry.key)
      this.expect('purge', entry.value, expected.value, `value handed over for ${describeValue(entry.key)}`)
      this.expect('purge', entry.ageMs, dueNow - expected.inserted, `ageMs handed over for ${describeValue(entry.key)}`)
      if (this.recorded) this.expect('purge', siteLabel(entry.site), expected.site, `site handed over for ${describeValue(entry.key)}`)
    }
  }

  /** What onExpire did to the map for each entry handed over, done to the model. */
  replayHandOver (got) {
    for (const entry of got) {
      if (this.reinserts(entry, this.model.size)) {
        this.model.set(entry.key, entry.value + 1, 'fuzzExpireSet', this.now())
        this.performed++
      } else if (this.config.onExpire === 'deleteOther') {
        this.model.delete(this.keys[this.config.victim])
        this.performed++
      }
    }
  }

  // Warnings counted, not printed: one per onExpire that threw.
  purgeCountingWarnings () {
    let warned = 0
    const realEmitWarning = process.emitWarning
    process.emitWarning = () => { warned++ }
    try {
      return { count: this.map.purgeExpired(), warned }
    } finally {
      process.emitWarning = realEmitWarning
    }
  }

  report (oldest, includeKeys) {
    this.performed++
    const { model } = this
    this.drain()
    const report = this.map.report({ limit: 1000, oldest, includeKeys })
    const now = this.readNow()
    this.compareFigures('report', report, 'report')
    this.expect('report', report.overwrites, model.counts.overwrites, 'report overwrites')
    this.expect('report', report.at, now, 'report at')
    this.expect('report', report.ttlMs, this.ttl, 'report ttlMs')
    const first = model.entries.values().next().value
    this.expect('report', report.oldestAgeMs, first === undefined ? null : now - first.inserted, 'report oldestAgeMs')
    if (this.recorded) this.compareSites(report, now)
    if (oldest > 0) this.compareOldest(report.oldestEntries, oldest, includeKeys, now)
  }

  compareSites (report, now) {
    const { model } = this
    this.expect('report', report.estimated, false, 'report estimated')
    const seen = new Set()
    for (const site of report.sites) {
      const label = siteLabel(site.site)
      const expected = model.sites.get(label)
      if (expected === undefined) this.fail('report-sites', `report names site ${site.site}, which the model never saw`)
      if (seen.has(label)) this.fail('report-sites', `site ${label} reported twice`)
      seen.add(label)
      for (const figure of ['live', 'inserts', 'removes', 'expired', 'overwrites']) {
        this.expect('report-sites', site[figure], expected[figure], `site ${label} ${figure}`)
      }
      this.expect('report-sites', site.live, site.inserts - site.removes - site.expired, `site ${label}: live = inserts - removes - expired`)
      const oldestInserted = model.oldestInserted(label)
      this.expect('report-sites', site.oldestAgeMs, oldestInserted === Infinity ? null : now - oldestInserted, `site ${label} oldestAgeMs`)
    }
    for (const [label, expected] of model.sites) {
      if (expected.inserts > 0 && !seen.has(label)) this.fail('report-sites', `site ${label} (${expected.inserts} inserts) missing from the report`)
    }
  }

  compareOldest (entries, oldest, includeKeys, now) {
    const expected = [...this.model.entries].slice(0, oldest)
    this.expect('report-oldest', entries.length, expected.length, 'oldestEntries length')
    expected.forEach(([key, e], i) => {
      this.expect('report-oldest', entries[i].ageMs, now - e.inserted, `oldestEntries[${i}].ageMs`)
      if (this.recorded) this.expect('report-oldest', siteLabel(entries[i].site), e.site, `oldestEntries[${i}].site`)
      if (includeKeys) {
        if (typeof entries[i].key !== 'string' || entries[i].key.length > 203) this.fail('report-oldest', `oldestEntries[${i}].key is not bounded text`)
        if (typeof key === 'string' && key.length <= 200) this.expect('report-oldest', entries[i].key, key, `oldestEntries[${i}].key`)
      } else if ('key' in entries[i]) {
        this.fail('report-oldest', 'oldestEntries carry keys without includeKeys')
      }
    })
  }

  snapshot () {
    this.performed++
    this.drain()
    const id = nativeLedgerOf(this.map).id
    const snapshot = registry.snapshot()
    const mine = snapshot.maps.filter(m => m.id === id)
    this.expect('snapshot', mine.length, 1, 'maps with this id in the snapshot')
    this.compareFigures('snapshot', mine[0], 'snapshot')
    const figures = this.model.figures()
    if (this.lastSnapshot !== null) {
      const diff = registry.diff(this.lastSnapshot, snapshot)
      const d = diff.maps.find(m => m.id === id)
      for (const figure of ['live', 'inserts', 'removes', 'expired']) {
        const delta = figures[figure] - this.lastFigures[figure]
        this.expect('diff', d === undefined ? 0 : d[`${figure}Delta`], delta, `diff ${figure}Delta`)
      }
    }
    this.lastSnapshot = snapshot
    this.lastFigures = figures
  }

  // Iteration while the map changes: both sides step in lockstep and apply
  // the same action at the same step.
  iterate (kind, plan) {
    const actions = new Map()
    for (const [step, action] of plan) if (!actions.has(step)) actions.set(step, action)
    const modelIterator = this.model.entries.entries()
    let step = 0
    const visit = (key, value) => {
      this.performed++
      const next = modelIterator.next()
      if (next.done) this.fail('iterate', `${kind}: step ${step} visited ${describeValue(key)}, the model's iteration had ended`)
      const [mKey, mEntry] = next.value
      if (kind !== 'values' && !same(key, mKey)) this.fail('iterate', `${kind}: step ${step} visited key ${describeValue(key)}, expected ${describeValue(mKey)}`)
      if (kind !== 'keys' && !same(value, mEntry.value)) this.fail('iterate', `${kind}: step ${step} value ${describeValue(value)}, expected ${describeValue(mEntry.value)}`)
      const action = actions.get(step)
      if (action !== undefined) this.applyAction(action, mKey)
      if (++step > 10_000) this.fail('iterate', `${kind}: iteration does not end`)
    }
    const { map } = this
    if (kind === 'forEach') {
      const thisArg = {}
      const runner = this
      map.forEach(function (value, key, self) {
        if (this !== thisArg) runner.fail('iterate', 'forEach: wrong thisArg')
        if (self !== map) runner.fail('iterate', 'forEach: third argument is not the map')
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
    if (!modelIterator.next().done) this.fail('iterate', `${kind}: iteration ended after ${step} steps, before the model's`)
  }

  applyAction (action, currentKey) {
    switch (action[0]) {
      case 'deleteCurrent': {
        this.performed++
        this.expect('iterate', this.map.delete(currentKey), this.model.delete(currentKey), 'delete(current key) during iteration')
        return
      }
      case 'delete': return this.delete(action[1], 'iterate')
      case 'set': return this.set(action[1], action[2], fuzzIterSet, 'iterate')
      case 'clear': return this.clear()
      case 'tick': this.clockValue += action[1]; return
      case 'purge': return this.purge()
      case 'touch': return this.touch(action[1])
    }
  }

  bulk (n, keepOneIn) {
    for (let i = 0; i < n; i++) {
      const key = `bulk${i}`
      const outcome = this.model.set(key, i, 'fuzzBulkSet', this.now())
      this.performed++
      try {
        fuzzBulkSet(this.map, key, i)
        if (outcome === 'full') this.fail('bulk', 'set into a full map did not throw RangeError')
      } catch (error) {
        if (!(outcome === 'full' && error instanceof RangeError)) throw error
      }
    }
    for (let i = 0; i < n; i++) {
      if (i % keepOneIn === 0 && keepOneIn > 1) continue
      const key = `bulk${i}`
      this.performed++
      this.expect('bulk', this.map.delete(key), this.model.delete(key), `delete(${key})`)
    }
  }

  // set/delete/touch/clear called ever further from the stack's edge until
  // it completes (and then as the model says): each attempt before must
  // throw RangeError and change nothing.
  edge (kind, keyIndex, value) {
    if (kind === 'purge') return this.edgePurge()
    const key = this.keys[keyIndex]
    this.performed++
    const outcome = this.callNearStackEdge(kind, key, value)
    switch (kind) {
      case 'set': return this.edgeSet(key, value, outcome)
      case 'delete': return this.expect('edge', outcome.value, this.model.delete(key), `delete(${describeValue(key)}) near the stack's edge`)
      case 'touch': return this.expect('edge', outcome.value, this.model.touch(key, this.now()), `touch(${describeValue(key)}) near the stack's edge`)
      case 'clear': this.model.clear(); return this.expect('edge', outcome.value, undefined, 'clear() near the stack\'s edge')
    }
  }

  // purgeExpired() called ever further from the stack's edge until it
  // completes. An attempt cut short may already have taken due entries out
  // and handed some over; across the sweep, every entry due is handed over
  // exactly once, with its value and age, and nothing else leaves the map.
  edgePurge () {
    this.performed++
    if (this.ttl > 0 || this.model.logged) this.drain(true)
    const dueNow = this.dueNow()
    const due = this.model.due(dueNow)
    this.handed = []
    for (let back = Math.max(0, edgeReach - 12); ; back++) {
      const outcome = callNearStackEdge(back, 0, () => this.purgeCountingWarnings())
      if (outcome.error === undefined) {
        edgeReach = back
        break
      }
      if (!(outcome.error instanceof RangeError)) this.fail('edge', `purgeExpired() near the stack's edge threw ${outcome.error && outcome.error.stack}`)
      if (back > 10_000) this.fail('edge', 'purgeExpired() never completed')
    }
    const got = this.handed
    this.handed = []
    this.expect('edge', got.length, due.length, 'entries handed to onExpire across a purge swept to the stack\'s edge')
    this.compareHandOver(got, due, dueNow)
    this.model.expire(due)
    this.replayHandOver(got)
    this.expect('edge', this.map.size, this.model.size, 'size after a purge swept to the stack\'s edge')
  }

  /** The sweep: `{ value }` or `{ error }` of the first call that completed (or was refused as full). */
  callNearStackEdge (kind, key, value) {
    const { map, model } = this
    const calls = {
      set: () => fuzzEdgeSet(map, key, value),
      delete: () => map.delete(key),
      touch: () => map.touch(key),
      clear: () => map.clear()
    }
    // A new key into a full map: its RangeError is the answer.
    const refused = error => kind === 'set' && !model.entries.has(key) && model.size >= this.config.maxSize && error instanceof RangeError && /is full/.test(error.message)
    for (let back = Math.max(0, edgeReach - 12); ; back++) {
      const outcome = callNearStackEdge(back, 0, calls[kind])
      if (outcome.error === undefined || refused(outcome.error)) {
        edgeReach = back
        return outcome
      }
      if (!(outcome.error instanceof RangeError)) this.fail('edge', `${kind} near the stack's edge threw ${outcome.error && outcome.error.stack}`)
      if (back > 10_000) this.fail('edge', `${kind} never completed`)
      this.expect('edge', map.size, model.size, `size after ${kind} threw RangeError ${back} frames from the edge`)
      this.expect('edge', map.has(key), model.entries.has(key), `has(${describeValue(key)}) after ${kind} threw RangeError ${back} frames from the edge`)
    }
  }

  edgeSet (key, value, outcome) {
    // Near the edge the capture itself may find no frame: the site is then
    // an unknown location, which the map says.
    // (info() drains the map: the model drains after the insert too.)
    let label = 'fuzzEdgeSet'
    const peek = this.recorded && !this.model.entries.has(key) && outcome.error === undefined
    if (peek) {
      label = siteLabel(this.map.info(key).site)
      if (label !== 'fuzzEdgeSet' && label !== 'unknownSite') this.fail('edge', `set near the stack's edge recorded site ${label}`)
    }
    const full = this.model.set(key, value, label, this.now()) === 'full'
    if (peek) this.drain()
    if (full !== (outcome.error !== undefined)) this.fail('edge', `set(${describeValue(key)}) near the stack's edge: ${full ? 'a full map did not refuse it' : `threw ${outcome.error}`}`)
    if (!full && outcome.value !== this.map) this.fail('edge', 'set() did not return the map')
  }

  // The wall clock stepped (NTP, a VM resume): no map may notice.
  wallStep (offset) {
    this.performed++
    const wall = this.wallClock
    wall.offset += offset
    Date.now = () => wall.realDateNow() + wall.offset
  }

  // ---- whole-map comparisons ----

  compareContents (check) {
    this.expect(check, this.map.size, this.model.size, 'size')
    const actual = [...this.map]
    const expected = [...this.model.entries]
    this.expect(check, actual.length, expected.length, 'number of entries iterated')
    for (let i = 0; i < expected.length; i++) {
      if (!same(actual[i][0], expected[i][0])) this.fail(check, `entry ${i}: key ${describeValue(actual[i][0])}, expected ${describeValue(expected[i][0])}`)
      if (!same(actual[i][1], expected[i][1].value)) this.fail(check, `entry ${i} (${describeValue(expected[i][0])}): value ${describeValue(actual[i][1])}, expected ${describeValue(expected[i][1].value)}`)
    }
  }

  compareFigures (check, figures, what) {
    const expected = this.model.figures()
    for (const figure of ['live', 'inserts', 'removes', 'expired']) this.expect(check, figures[figure], expected[figure], `${what} ${figure}`)
  }
}

/**
 * Runs one case; returns `{ ops: operations performed, failure: null | { at, check, message } }`.
 * `MapClass` lets a test plant a bug to show the fuzzer finds it.
 */
function runCase (testCase, { MapClass = HandleMap } = {}) {
  return new CaseRunner(testCase, MapClass).run()
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
        return `${indent}for (let back = 0; callNearStackEdge(back, 0, () => ${call}).error !== undefined; back++) console.log(map.size)`
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
        return [head, ...plan, '    step++', op[1] === 'forEach' ? `${indent}}) }` : `${indent}} }`].join('\n')
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
    `const { HandleMap, registry } = require(${JSON.stringify(require('node:path').join(__dirname, '..', '..'))})`,
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

module.exports = { fuzz, runCase, generateCase, minimise, reproduction, parseCase, KEY_SPECS }
