'use strict'
// HandleMap: a Map whose bookkeeping lives in Rust.
//
// The hot path (set/get/has/delete) is plain JS: a Map from key to a small
// integer *slot*, keys and values in one array by slot, and one or two int32 words
// appended to an operation log per insert/remove. The ledger drains that log
// in one native call per few thousand operations or per tick, so no map
// operation crosses into native code (a napi call costs ~3 Map operations;
// see ARCHITECTURE.md for the measurement).

const { threadId } = require('node:worker_threads')
const { inspect } = require('node:util')
const native = require('../binding.js')
const { normalize } = require('./options.js')
const callsite = require('./callsite.js')
const { annotateMaps, appFrameOf, where } = require('./app-frame.js')
const { reportOptions } = require('./report-options.js')

// Operation codes: the first word of an operation is `slot << 3 | code`.
// Must match src/oplog.rs.
const INSERT = 1
const REMOVE = 2
const REMOVE_AT = 3
const OVERWRITE = 4
const TOUCH = 5
const CLEAR = 6
const TIME = 7
const LOG_WORDS = 8192
const LOG_HEADROOM = 6 // the longest operation (TIME + INSERT) is 5 words
// Remove sites are captured for the first REMOVE_SITES_ALWAYS removes of
// each insert site (small sites are exact) and then at random, about one in
// REMOVE_SAMPLE_PERIOD: every site that has removes names a remove site, the
// shares are unbiased, and a cycle pays one capture, not two.
const REMOVE_SITES_ALWAYS = 8
const REMOVE_SAMPLE_PERIOD = 8
const WARNING_INTERVAL_MS = 60_000
// A clock beyond this is a bug (today is ~2^40.6 ms since 1970).
const MAX_CLOCK_MS = 2 ** 52
// The Map holds key -> slot, plus this bit when the insert site was recorded
// (the site then sits in #siteBySlot): unrecorded entries, the many in
// 'sampled' mode, cost no extra memory and no extra lookup on delete.
const RECORDED = 1 << 29
const SLOT = RECORDED - 1

// The maps of this thread, so a report can flush them first.
const liveMaps = new Set()
// Filled by HandleMap's static block: see there.
let internals

class HandleMap {
  // Private state: nothing of it shows through JSON.stringify, Object.keys or
  // structuredClone, which see a HandleMap as they see a Map (no own keys).
  #clock
  #closed
  #config
  #countdown
  #entries
  #freeSlot
  #lastStamp
  #lastTickFailure
  #lastWarning
  #log
  #logLength
  #maxSize
  #native
  #nextSlot
  #removeCountdown
  #removeCounts
  #sampling
  #siteBySlot
  #slots
  #timer
  #weakSelf

  /**
   * new HandleMap(options) or new HandleMap(entries, options), like Map.
   */
  constructor (entriesOrOptions, maybeOptions) {
    let entries = null
    let options = maybeOptions
    if (entriesOrOptions !== undefined && entriesOrOptions !== null) {
      if (typeof entriesOrOptions[Symbol.iterator] === 'function') {
        entries = entriesOrOptions
      } else if (maybeOptions === undefined) {
        options = entriesOrOptions
      } else {
        throw new TypeError('new HandleMap(entries, options): entries must be iterable')
      }
    }
    const config = normalize(options)
    this.#config = config
    this.#slots = new Map()
    // Keys and values interleaved by slot: [key0, value0, key1, value1, ...].
    // One array grows with less resident slack than two (BENCHMARKS.md).
    // A free slot's key cell holds the next free slot (-1 ends the list), so
    // reusing a slot touches only the cache line the entry goes into.
    this.#entries = []
    this.#freeSlot = -1
    this.#nextSlot = 0
    this.#log = new Int32Array(LOG_WORDS)
    this.#logLength = 0
    this.#clock = config.clock === undefined ? null : config.clock
    this.#lastStamp = -1
    // Sampling: 0 = never capture; otherwise capture when the countdown hits 0.
    this.#sampling = config.callSites === 'off' ? 0 : config.sampleRate
    this.#countdown = this.#sampling === 0 ? 0 : this.#nextSampleGap()
    this.#siteBySlot = new Map()
    this.#maxSize = config.maxSize
    this.#removeCounts = new Map()
    this.#removeCountdown = REMOVE_SAMPLE_PERIOD
    this.#lastWarning = new Map()
    this.#closed = false
    this.#native = new native.NativeLedger(
      config.name, config.ttl, config.callSites, config.sampleRate, threadId,
      config.flushInterval, this.#clock === null, this.#now()
    )
    this.#timer = this.#startTicking(config.flushInterval)
    liveMaps.add(this.#weakSelf)
    if (entries !== null) {
      try {
        for (const entry of entries) {
          if (entry === null || (typeof entry !== 'object' && typeof entry !== 'function')) {
            throw new TypeError(`Iterator value ${typeof entry === 'symbol' ? 'a symbol' : String(entry)} is not an entry object`)
          }
          this.#set(entry[0], entry[1], HandleMap)
        }
      } catch (error) {
        this.#unregister() // a constructor that throws leaves no map behind
        throw error
      }
    }
  }

  get size () {
    return this.#slots.size
  }

  get name () {
    return this.#config.name
  }

  get (key) {
    const handle = this.#slots.get(key)
    return handle === undefined ? undefined : this.#entries[((handle & SLOT) << 1) + 1]
  }

  has (key) {
    return this.#slots.has(key)
  }

  set (key, value) {
    return this.#set(key, value, HandleMap.prototype.set)
  }

  delete (key) {
    const handle = this.#slots.get(key)
    if (handle === undefined) return false
    this.#reserveLog() // before any change: a drain that throws leaves the map as it was
    const slot = handle & SLOT
    // A recorded entry's lifetime is measured at its remove: with a custom
    // clock, stamp it exactly (as inserts are).
    if (this.#clock !== null && handle > SLOT) this.#stamp()
    this.#slots.delete(key)
    this.#freeEntry(slot)
    if (handle > SLOT && this.#isRemoveSampled(this.#takeSite(slot))) {
      this.#write2(slot << 3 | REMOVE_AT, callsite.siteOf(HandleMap.prototype.delete, this.#config.stackDepth))
    } else {
      this.#log[this.#logLength++] = slot << 3 | REMOVE
    }
    return true
  }

  clear () {
    const site = this.#sampling === 0 ? 0 : callsite.siteOf(HandleMap.prototype.clear, this.#config.stackDepth)
    this.#reserveLog()
    this.#slots.clear()
    this.#entries = []
    this.#freeSlot = -1
    this.#nextSlot = 0
    this.#siteBySlot.clear()
    this.#write2(CLEAR, site)
  }

  /** Restarts the TTL of `key`; false when the key is not in the map. */
  touch (key) {
    const handle = this.#slots.get(key)
    if (handle === undefined) return false
    this.#reserveLog()
    if (this.#clock !== null) this.#stamp()
    this.#log[this.#logLength++] = (handle & SLOT) << 3 | TOUCH
    return true
  }

  /** `{ insertedAt, ageMs, expiresInMs, site, stack }` of a live key, or undefined. */
  info (key) {
    const handle = this.#slots.get(key)
    if (handle === undefined) return undefined
    this.#flush()
    const found = this.#native.entryInfo(handle & SLOT, this.#now())
    if (found === null) return undefined
    const [insertedAt, ageMs, expiresInMs, site] = found
    const { site: siteText, stack } = callsite.describe(site)
    return { insertedAt, ageMs, expiresInMs: expiresInMs < 0 ? null : expiresInMs, site: siteText, stack }
  }

  /**
   * This map's report (schema in README and index.d.ts). `oldest: n` adds the
   * n oldest live entries (their keys only with `includeKeys: true`).
   */
  report (options) {
    const { limit, oldest, includeKeys, map, ...rules } = reportOptions(options)
    this.#flush()
    const [report] = annotateMaps([this.#native.report({ limit, ...rules }, this.#now())])
    if (oldest > 0) report.oldestEntries = this.#oldestEntries(oldest, includeKeys)
    return report
  }

  /** Throws HandleLeakError (with `.report`) when the map is not empty. */
  assertEmpty (message) {
    if (this.#slots.size === 0) return
    const { HandleLeakError } = require('./assertions.js')
    const { formatReport } = require('./format.js')
    const report = this.report({ oldest: 5 })
    const prefix = message === undefined ? '' : `${message}: `
    throw new HandleLeakError(`${prefix}HandleMap ${JSON.stringify(this.name)} holds ${this.#slots.size} entries\n${formatReport(report)}`, report)
  }

  /**
   * Drains the operation log and expires every entry whose TTL has passed,
   * now rather than at the next tick. Returns how many expired.
   */
  purgeExpired () {
    return this.#tick()
  }

  /** Stops the map's timer and takes it out of the registry. The map still works as a Map. */
  close () {
    if (this.#closed) return
    try {
      this.#flush()
    } finally {
      this.#unregister()
    }
  }

  forEach (callback, thisArg) {
    if (typeof callback !== 'function') throw new TypeError(`${inspect(callback)} is not a function`)
    for (const [key, handle] of this.#slots) callback.call(thisArg, this.#entries[((handle & SLOT) << 1) + 1], key, this)
  }

  keys () {
    return this.#slots.keys()
  }

  values () {
    return new HandleMapIterator(this.#slots.values(), this.#valueOf, false)
  }

  entries () {
    return new HandleMapIterator(this.#slots.entries(), this.#valueOf, true)
  }

  [Symbol.iterator] () {
    return this.entries()
  }

  get [Symbol.toStringTag] () {
    return 'HandleMap'
  }

  [inspect.custom] (depth, options) {
    const body = inspect(new Map(this.entries()), { ...options, depth: options.depth === null ? null : options.depth })
    return `HandleMap(${this.size}) ${JSON.stringify(this.name)} ${body.replace(/^Map\(\d+\) /, '')}`
  }

  // ---- internals -------------------------------------------------------

  // The value stored under a Map handle, read when an iterator reaches it.
  #valueOf = handle => this.#entries[((handle & SLOT) << 1) + 1]

  // One unref'd interval per map. It holds the map weakly, so a map dropped
  // without close() is collected (its native ledger then leaves the registry)
  // and the timer stops itself.
  #startTicking (interval) {
    const ref = new WeakRef(this)
    this.#weakSelf = ref
    const timer = setInterval(() => {
      const target = ref.deref()
      if (target === undefined) {
        clearInterval(timer)
        liveMaps.delete(ref)
        return
      }
      try {
        target.#tick()
      } catch (error) {
        // A timer callback that throws would crash the process: warn instead.
        target.#warnOfTickFailure(error)
      }
    }, interval)
    timer.unref()
    return timer
  }

  // What the rest of the package (registry, route, tests) may reach of a map;
  // users cannot: it is not exported from index.js.
  static {
    internals = {
      nativeLedger: map => map.#native,
      flush: map => map.#flush(),
      oldestEntries: (map, count, includeKeys) => map.#oldestEntries(count, includeKeys)
    }
  }

  #unregister () {
    this.#closed = true
    clearInterval(this.#timer)
    liveMaps.delete(this.#weakSelf)
    this.#native.close()
  }

  #set (key, value, below) {
    const handle = this.#slots.get(key)
    this.#reserveLog()
    if (handle !== undefined) {
      const slot = handle & SLOT
      if (this.#clock !== null) this.#stamp()
      this.#entries[(slot << 1) + 1] = value
      this.#log[this.#logLength++] = slot << 3 | OVERWRITE
      return this
    }
    if (this.#slots.size >= this.#maxSize) {
      throw new RangeError(`HandleMap ${JSON.stringify(this.name)} is full (maxSize ${this.#config.maxSize}); the entry was not inserted`)
    }
    if (this.#clock !== null) this.#stamp()
    let site = 0
    if (this.#sampling !== 0 && --this.#countdown === 0) {
      site = callsite.siteOf(below, this.#config.stackDepth)
      this.#countdown = this.#nextSampleGap()
    }
    const fresh = this.#takeFreeSlot()
    if (key === 0) key = 0 // -0 and +0 are one key; store +0 like Map does
    if (site === 0) {
      this.#slots.set(key, fresh)
    } else {
      this.#slots.set(key, fresh | RECORDED)
      this.#siteBySlot.set(fresh, site)
    }
    this.#entries[fresh << 1] = key
    this.#entries[(fresh << 1) + 1] = value
    this.#write2(fresh << 3 | INSERT, site)
    return this
  }

  #takeFreeSlot () {
    const slot = this.#freeSlot
    if (slot === -1) return this.#nextSlot++
    this.#freeSlot = this.#entries[slot << 1]
    return slot
  }

  #freeEntry (slot) {
    this.#entries[slot << 1] = this.#freeSlot
    this.#entries[(slot << 1) + 1] = undefined
    this.#freeSlot = slot
  }

  #write2 (first, second) {
    const log = this.#log
    const at = this.#logLength
    log[at] = first
    log[at + 1] = second
    this.#logLength = at + 2
  }

  #reserveLog () {
    if (this.#logLength > LOG_WORDS - LOG_HEADROOM) this.#deferLog()
  }

  // A full log goes to the ledger's maintenance thread (a copy, ~32 KB),
  // so this thread does not wait while it is applied; every reader of the
  // ledger catches up first. Like a drain, the clock is read before the log
  // is touched, and once handed over the log is emptied whatever happened.
  #deferLog () {
    const now = this.#now()
    try {
      this.#native.defer(this.#log, this.#logLength, now)
    } finally {
      this.#emptyLog()
    }
  }

  // Only maps with a custom clock stamp each operation; others are stamped
  // with the time of the next drain (never early, late by < flushInterval).
  #stamp () {
    const now = this.#now()
    if (now !== this.#lastStamp) {
      this.#lastStamp = now
      const log = this.#log
      const at = this.#logLength
      log[at] = TIME
      log[at + 1] = now % 0x100000000 | 0
      log[at + 2] = Math.floor(now / 0x100000000)
      this.#logLength = at + 3
    }
  }

  #now () {
    if (this.#clock === null) return Date.now()
    const now = this.#clock()
    if (typeof now !== 'number' || !(now >= 0 && now <= MAX_CLOCK_MS)) {
      const shown = typeof now === 'symbol' ? 'a symbol' : String(now)
      throw new TypeError(`HandleMap ${JSON.stringify(this.name)}: clock() must return a number of ms from 0 to 2^52, got ${shown}`)
    }
    return Math.floor(now)
  }

  #nextSampleGap () {
    // Random gaps averaging sampleRate, so periodic traffic is not aliased.
    const rate = this.#sampling
    return rate === 1 ? 1 : 1 + Math.floor(Math.random() * (2 * rate - 1))
  }

  #takeSite (slot) {
    const site = this.#siteBySlot.get(slot)
    this.#siteBySlot.delete(slot)
    return site
  }

  #isRemoveSampled (site) {
    const count = (this.#removeCounts.get(site) || 0) + 1
    this.#removeCounts.set(site, count)
    if (count <= REMOVE_SITES_ALWAYS) return true
    // Random gaps (mean REMOVE_SAMPLE_PERIOD), so a periodic pattern of
    // remove sites is not aliased onto one of them.
    if (--this.#removeCountdown > 0) return false
    this.#removeCountdown = 1 + Math.floor(Math.random() * (2 * REMOVE_SAMPLE_PERIOD - 1))
    return true
  }

  #oldestEntries (count, includeKeys) {
    const now = this.#now()
    const entries = []
    for (const [key, handle] of this.#slots) {
      if (entries.length >= count) break
      const found = this.#native.entryInfo(handle & SLOT, now)
      if (found === null) continue
      const { site } = callsite.describe(found[3])
      const entry = { ageMs: found[1], site }
      if (includeKeys) entry.key = keyText(key)
      entries.push(entry)
    }
    return entries
  }

  #oldestSlot () {
    if (this.#slots.size === 0) return -1
    return this.#slots.values().next().value & SLOT
  }

  /** Applies the op log without expiring anything (safe inside a set()). */
  #flush () {
    // A custom clock may have moved with no operation: the ledger must hear it.
    if (this.#logLength === 0 && this.#clock === null) return
    this.#drain(false)
  }

  /** The timer's work: drain and expire. Returns how many entries expired. */
  #tick () {
    if (this.#closed) return 0
    if (this.#logLength === 0 && this.#config.ttl === 0) return 0
    const expired = this.#drain(true)
    return expired === null ? 0 : this.#expire(expired)
  }

  // The clock is read before the log is touched: a clock that throws loses
  // no operation. Once the ledger has seen the log, it is emptied whatever
  // happened (a failed drain is not replayed twice).
  #drain (expire) {
    const now = this.#now()
    try {
      return this.#native.drain(this.#log, this.#logLength, now, this.#oldestSlot(), expire)
    } finally {
      this.#emptyLog()
    }
  }

  // The next operation after this starts a fresh log, with its own stamp.
  #emptyLog () {
    this.#logLength = 0
    this.#lastStamp = -1
  }

  #expire (triples) {
    const handedOver = []
    for (let i = 0; i < triples.length; i += 3) {
      const slot = triples[i]
      const key = this.#entries[slot << 1]
      const value = this.#entries[(slot << 1) + 1]
      this.#slots.delete(key)
      this.#siteBySlot.delete(slot)
      this.#freeEntry(slot)
      const { site, stack } = callsite.describe(triples[i + 1])
      const { appFrame, inDependency } = appFrameOf(stack)
      handedOver.push({ key, value, ageMs: triples[i + 2], site, stack, appFrame, inDependency })
    }
    this.#native.setOldestSlot(this.#oldestSlot())
    for (const entry of handedOver) this.#handOver(entry)
    return handedOver.length
  }

  #handOver (entry) {
    if (this.#config.strict) this.#warnOfLeak(entry)
    const onExpire = this.#config.onExpire
    if (onExpire === undefined) return
    try {
      onExpire(entry)
    } catch (error) {
      const at = entry.site ? where(entry.site, entry.appFrame, entry.inDependency) : 'an unrecorded site'
      const warning = new Error(`HandleMap ${JSON.stringify(this.name)}: onExpire threw for an entry inserted at ${at}: ${error && error.message}`)
      warning.name = 'HandleLedgerWarning'
      warning.cause = error
      process.emitWarning(warning)
    }
  }

  #warnOfTickFailure (error) {
    const message = error && error.message
    if (this.#lastTickFailure === message) return
    this.#lastTickFailure = message
    const warning = new Error(`HandleMap ${JSON.stringify(this.name)}: its expiry tick failed (${message}); it retries on the next tick`)
    warning.name = 'HandleLedgerWarning'
    warning.cause = error
    process.emitWarning(warning)
  }

  // Strict mode: an expired entry is a leak; say so once per site per minute.
  #warnOfLeak (entry) {
    // The app's line names the caller: one warning per caller, not per helper.
    const site = where(entry.site, entry.appFrame, entry.inDependency)
    const now = Date.now()
    const last = this.#lastWarning.get(site)
    if (last !== undefined && now - last < WARNING_INTERVAL_MS) return
    this.#lastWarning.set(site, now)
    const warning = new Error(`HandleMap ${JSON.stringify(this.name)}: an entry inserted at ${site} expired after ${(entry.ageMs / 1000).toFixed(1)}s without being removed (further warnings for this site are muted for a minute)`)
    warning.name = 'HandleLeakWarning'
    warning.map = this.name
    warning.site = entry.site
    warning.appFrame = entry.appFrame
    warning.ageMs = entry.ageMs
    process.emitWarning(warning)
  }
}

// values() and entries() walk the underlying Map's own iterator, so they see
// exactly the mutations a Map iterator sees (deleted entries skipped, added
// ones visited, clear() ends them), and read each value when they reach it.
class HandleMapIterator {
  #inner
  #valueOf
  #withKeys

  constructor (inner, valueOf, withKeys) {
    this.#inner = inner
    this.#valueOf = valueOf
    this.#withKeys = withKeys
  }

  next () {
    const step = this.#inner.next()
    if (step.done) return { value: undefined, done: true }
    if (!this.#withKeys) return { value: this.#valueOf(step.value), done: false }
    const [key, handle] = step.value
    return { value: [key, this.#valueOf(handle)], done: false }
  }

  [Symbol.iterator] () {
    return this
  }

  get [Symbol.toStringTag] () {
    return 'Map Iterator'
  }
}

// Keys in reports are text: strings as they are, anything else as inspect()
// shows it, bounded so a huge key cannot bloat a report.
function keyText (key) {
  let text
  try {
    text = typeof key === 'string' ? key : inspect(key, { depth: 1, breakLength: Infinity })
  } catch {
    text = `<a ${typeof key} key that cannot be shown>` // hostile inspect hooks must not break a report
  }
  return text.length > 200 ? text.slice(0, 200) + '...' : text
}

/** The live map of this thread with registry id `id`, if any. */
function findLocalMap (id) {
  for (const ref of liveMaps) {
    const map = ref.deref()
    if (map !== undefined && internals.nativeLedger(map).id === id) return map
  }
  return undefined
}

/** Drains the op logs of this thread's maps, so a report is current. */
function flushThisThread () {
  for (const ref of liveMaps) {
    const map = ref.deref()
    if (map === undefined) liveMaps.delete(ref)
    else internals.flush(map)
  }
}

module.exports = { HandleMap, flushThisThread, findLocalMap, internals }
