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
const { performance } = require('node:perf_hooks')
const native = require('../../binding.js')
const { normalize, describe } = require('./options.js')
const callsite = require('./callsite.js')
const { CaptureBudget } = require('./capture-budget.js')
const { annotateMaps, appFrameOf } = require('./app-frame.js')
const { expireChannel, publishExpired } = require('./channels.js')
const { liveMaps } = require('./live-maps.js')
const { internals } = require('./internals.js')
// The map's layer sits below the report layer: what it needs of reports
// (validating report options, rendering assertEmpty()'s message, the error it
// throws) comes from lib/shared, leaf modules that require nothing of lib/.
const { reportOptions } = require('../shared/report-options.js')
const { clean, formatReport, where } = require('../shared/format.js')
const { HandleLeakError } = require('../shared/errors.js')

// Operation codes: the first word of an operation is `slot << 3 | code`
// (op-codes.js reads them from the binding and checks the shift of 3).
const { INSERT, REMOVE, REMOVE_AT, OVERWRITE, TOUCH, CLEAR, TIME, HELD_SITE } = require('./op-codes.js')
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
// The Map also holds this bit for entries inserted by hold()/acquire(): only
// their own release removes them, and only while this bit is still there.
const HELD = 1 << 30
// HELD_SITE (from the binding, above): the bit of an INSERT's site word that
// marks a held insert for the ledger (site ids stay below 2^20): a
// long-lived held entry is a slow call, not a lost cleanup.

// Times captures in 'auto' mode (never the TTL clock: a monotonic source).
const monotonicMs = () => performance.now()

// The maps being shown by inspect() right now, to show a cycle as [Circular].
const inspecting = new Set()
// Filled by HandleMap's held-entries static block: how a HeldEntry releases.
let releaseHeldEntry

class HandleMap {
  // Private state: nothing of it shows through JSON.stringify, Object.keys or
  // structuredClone, which see a HandleMap as they see a Map (no own keys).
  #budget
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
    // 'auto' starts by recording every insert; its budget sets the gaps after.
    this.#sampling = config.callSites === 'off' ? 0 : config.sampleRate
    this.#budget = config.callSites === 'auto' ? new CaptureBudget(config.captureBudget, config.random, monotonicMs) : null
    this.#countdown = this.#sampling === 0 ? 0 : this.#budget !== null ? 1 : this.#nextSampleGap()
    this.#siteBySlot = new Map()
    this.#maxSize = config.maxSize
    this.#removeCounts = new Map()
    this.#removeCountdown = REMOVE_SAMPLE_PERIOD
    this.#lastWarning = new Map()
    this.#closed = false
    this.#native = new native.NativeLedger({
      name: config.name,
      ttlMs: config.ttl,
      callSites: config.callSites,
      sampleRate: config.sampleRate,
      threadId,
      flushIntervalMs: config.flushInterval,
      wallClock: this.#clock === null,
      now: this.#now()
    })
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

  // The mutators do everything that can throw (a full log's hand-over, the
  // clock, a call-site capture, any call at all near the stack's edge, a Map
  // at its maximum size) before their first change, and then change the map
  // and log the change with stores and Map builtins only, no call between:
  // an exception leaves the map and its ledger as they were, never half done.
  delete (key) {
    const handle = this.#slots.get(key)
    if (handle === undefined) return false
    this.#reserveLog()
    const slot = handle & SLOT
    const recorded = (handle & RECORDED) !== 0
    // A recorded entry's lifetime is measured at its remove: with a custom
    // clock, stamp it exactly (as inserts are).
    if (this.#clock !== null && recorded) this.#stamp()
    let removeSite = 0
    if (recorded && this.#isRemoveSampled(this.#siteBySlot.get(slot))) {
      removeSite = this.#capturePaid(HandleMap.prototype.delete)
    }
    this.#slots.delete(key)
    if (recorded) this.#siteBySlot.delete(slot)
    const entries = this.#entries
    entries[slot << 1] = this.#freeSlot
    entries[(slot << 1) + 1] = undefined
    this.#freeSlot = slot
    const log = this.#log
    const at = this.#logLength
    if (removeSite === 0) {
      log[at] = slot << 3 | REMOVE
      this.#logLength = at + 1
    } else {
      log[at] = slot << 3 | REMOVE_AT
      log[at + 1] = removeSite
      this.#logLength = at + 2
    }
    return true
  }

  clear () {
    const site = this.#sampling === 0 ? 0 : this.#capturePaid(HandleMap.prototype.clear)
    this.#reserveLog()
    const fresh = [] // allocated before the first change
    this.#slots.clear()
    this.#entries = fresh
    this.#freeSlot = -1
    this.#nextSlot = 0
    this.#siteBySlot.clear()
    const log = this.#log
    const at = this.#logLength
    log[at] = CLEAR
    log[at + 1] = site
    this.#logLength = at + 2
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
    return {
      // For display: the wall-clock time, unless the map has its own clock.
      insertedAt: this.#clock === null ? Date.now() - ageMs : insertedAt,
      ageMs,
      expiresInMs: expiresInMs < 0 ? null : expiresInMs,
      site: siteText,
      stack
    }
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

  /** A plain `Map` with this map's entries, in order (for APIs that need a real Map). */
  toMap () {
    return new Map(this.entries())
  }

  // Shown as a Map is: within the depth left (`depth` is what remains of
  // the caller's), and a map met again inside itself is [Circular].
  [inspect.custom] (depth, options) {
    if (depth !== null && depth < 0) return options.stylize('[HandleMap]', 'special')
    if (inspecting.has(this)) return options.stylize('[Circular]', 'special')
    inspecting.add(this)
    try {
      const body = inspect(new Map(this.entries()), { ...options, depth })
      return `HandleMap(${this.size}) ${JSON.stringify(this.name)} ${body.replace(/^Map\(\d+\) /, '')}`
    } finally {
      inspecting.delete(this)
    }
  }

  // ---- held entries: removed by handle-ledger, so the cleanup cannot be lost

  // Slot -> serial of the held entry inserted into it. A release removes the
  // entry only while the key still maps to a held slot with its serial, so a
  // newer entry under the same key (even in the same slot) stays as it is.
  // A typed array grown by doubling: a plain array first written at a high
  // slot turns sparse (a dictionary) and costs a hash lookup per hold.
  #heldSerials = new Float64Array(0)
  #lastSerial = 0

  /**
   * Inserts `key` -> `value`, runs `fn(value)`, and removes the entry when fn
   * returns, throws, or (for a promise) settles; returns what fn returns (a
   * promise settling the same way, after the removal, when fn returns one).
   * A live `key` throws and changes nothing. With `options.signal`, returns a
   * promise, which an abort rejects with `signal.reason` after removing the entry.
   */
  hold (key, value, fn, options) {
    if (typeof fn !== 'function') throw new TypeError(`map.hold(key, value, fn): fn must be a function, got ${shownValue(fn)}`)
    const signal = signalOf(options)
    if (signal !== undefined) return this.#holdUntilAborted(key, value, fn, signal)
    const serial = this.#insertHeld(key, value, HandleMap.prototype.hold)
    let result
    try {
      result = fn(value)
      // Inside the try: a `then` getter that throws must not keep the entry.
      if (isThenable(result)) return this.#releaseWhenSettled(result, key, serial)
    } catch (error) {
      this.#releaseHeld(key, serial)
      throw error
    }
    this.#releaseHeld(key, serial)
    return result
  }

  /**
   * Inserts `key` -> `value` and returns its handle: `release()` (idempotent)
   * and `[Symbol.dispose]`, for `using entry = map.acquire(id, ctx)`.
   * A live `key` throws and changes nothing.
   */
  acquire (key, value) {
    const serial = this.#insertHeld(key, value, HandleMap.prototype.acquire)
    if (Symbol.dispose !== knownDispose) defineDispose()
    return new HeldEntry(this, key, serial)
  }

  async #releaseWhenSettled (pending, key, serial) {
    try {
      return await pending
    } finally {
      this.#releaseHeld(key, serial)
    }
  }

  #holdUntilAborted (key, value, fn, signal) {
    if (signal.aborted) return Promise.reject(signal.reason)
    const serial = this.#insertHeld(key, value, HandleMap.prototype.hold)
    return new Promise((resolve, reject) => {
      // Whatever ends the hold first (fn settling, or the abort) removes the
      // entry and settles the promise; what comes later changes nothing.
      const finish = (settle, outcome) => {
        signal.removeEventListener('abort', onAbort)
        try {
          this.#releaseHeld(key, serial)
        } catch (error) {
          reject(error)
          return
        }
        settle(outcome)
      }
      const onAbort = () => finish(reject, signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      let result
      let thenable
      try {
        result = fn(value)
        thenable = isThenable(result)
      } catch (error) {
        finish(reject, error)
        return
      }
      if (!thenable) {
        finish(resolve, result)
        return
      }
      // Also after an abort: fn's late rejection is handled here, not unhandled.
      Promise.resolve(result).then(outcome => finish(resolve, outcome), error => finish(reject, error))
    })
  }

  #insertHeld (key, value, below) {
    if (this.#slots.has(key)) {
      throw new Error(`HandleMap ${JSON.stringify(this.name)}: key ${keyText(key)} is live; a held key is unique while in flight (nothing was inserted)`)
    }
    this.#reserveLog()
    if (this.#slots.size >= this.#maxSize) {
      throw new RangeError(`HandleMap ${JSON.stringify(this.name)} is full (maxSize ${this.#config.maxSize}); the entry was not inserted`)
    }
    if (this.#clock !== null) this.#stamp()
    let site = 0
    // `<= 0`, not `=== 0`: a capture that threw (at the stack limit) left the
    // countdown at 0, and the next insert must retry it (see #captureInsertSite).
    if (this.#sampling !== 0 && --this.#countdown <= 0) {
      site = callsite.siteOf(below, this.#config.stackDepth)
      this.#countdown = this.#nextSampleGap()
    }
    const free = this.#freeSlot
    const fresh = free === -1 ? this.#nextSlot : free
    if (fresh >= this.#heldSerials.length) this.#growHeldSerials(fresh) // only makes room
    // From here on no call: see the mutators' comment.
    const entries = this.#entries
    if (key === 0) key = 0 // -0 and +0 are one key; store +0 like Map does
    if (site === 0) {
      this.#slots.set(key, fresh | HELD)
    } else {
      this.#slots.set(key, fresh | HELD | RECORDED)
      this.#siteBySlot.set(fresh, site)
    }
    const serial = ++this.#lastSerial
    this.#heldSerials[fresh] = serial
    if (free === -1) this.#nextSlot = fresh + 1
    else this.#freeSlot = entries[free << 1]
    entries[fresh << 1] = key
    entries[(fresh << 1) + 1] = value
    const log = this.#log
    const at = this.#logLength
    log[at] = fresh << 3 | INSERT
    log[at + 1] = site | HELD_SITE
    this.#logLength = at + 2
    return serial
  }

  #growHeldSerials (slot) {
    const grown = new Float64Array(Math.max(64, 2 ** Math.ceil(Math.log2(slot + 1))))
    grown.set(this.#heldSerials)
    this.#heldSerials = grown
  }

  /** Removes the held entry `serial` if `key` still maps to it; true if it did. */
  #releaseHeld (key, serial) {
    const handle = this.#slots.get(key)
    if (handle === undefined || (handle & HELD) === 0 || this.#heldSerials[handle & SLOT] !== serial) return false
    this.#reserveLog()
    const slot = handle & SLOT
    // No call from here: see the mutators' comment.
    this.#slots.delete(key)
    if ((handle & RECORDED) !== 0) this.#siteBySlot.delete(slot)
    const entries = this.#entries
    entries[slot << 1] = this.#freeSlot
    entries[(slot << 1) + 1] = undefined
    this.#freeSlot = slot
    this.#log[this.#logLength++] = slot << 3 | REMOVE
    return true
  }

  static {
    releaseHeldEntry = (map, key, serial) => map.#releaseHeld(key, serial)
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
        try {
          target.#warnOfTickFailure(error)
        } catch {} // nothing may escape a timer, not even a failed warning
      }
    }, interval)
    timer.unref()
    return timer
  }

  // What the rest of the package (live-maps, registry, tests) may reach of a
  // map (internals.js); users cannot: it is not exported from index.js.
  static {
    Object.assign(internals, {
      nativeLedger: map => map.#native,
      flush: map => map.#flush(),
      // Test hook: time this map's captures with `now` (ms), so a sampling
      // run replays exactly with a seeded `random` option.
      useCaptureClock: (map, now) => { if (map.#budget !== null) map.#budget.now = now },
      oldestEntries: (map, count, includeKeys) => map.#oldestEntries(count, includeKeys)
    })
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
    const site = this.#sampling !== 0 && --this.#countdown <= 0 ? this.#captureInsertSite(below) : 0
    // From here on no call: see the mutators' comment. A Map at its
    // maximum size throws in the first set, before the slot is taken.
    const entries = this.#entries
    const free = this.#freeSlot
    const fresh = free === -1 ? this.#nextSlot : free
    if (key === 0) key = 0 // -0 and +0 are one key; store +0 like Map does
    if (site === 0) {
      this.#slots.set(key, fresh)
    } else {
      this.#slots.set(key, fresh | RECORDED)
      this.#siteBySlot.set(fresh, site)
    }
    if (free === -1) this.#nextSlot = fresh + 1
    else this.#freeSlot = entries[free << 1]
    entries[fresh << 1] = key
    entries[(fresh << 1) + 1] = value
    const log = this.#log
    const at = this.#logLength
    log[at] = fresh << 3 | INSERT
    log[at + 1] = site
    this.#logLength = at + 2
    return this
  }

  #freeEntry (slot) {
    this.#entries[slot << 1] = this.#freeSlot
    this.#entries[(slot << 1) + 1] = undefined
    this.#freeSlot = slot
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
      // Stores, not a call: a call here could overflow the stack after the
      // ledger took the log, and the next hand-over would apply it twice.
      this.#logLength = 0
      this.#lastStamp = -1
    }
  }

  // Only maps with a custom clock stamp each operation; others are stamped
  // with the time of the next drain (never early, late by < flushInterval).
  #stamp () {
    // Rounded up: the entry's deadline is never before its true one.
    const now = Math.ceil(this.#now())
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

  // The map's clock in ms, fractions kept (the ledger rounds stamps up and
  // "now" down). The default is monotonic: a wall clock stepped by NTP or a
  // VM resume neither expires entries early nor holds them late. Its origin
  // is the wall clock at the thread's start, so it reads close to Date.now().
  #now () {
    if (this.#clock === null) return monotonicNow()
    const now = this.#clock()
    if (typeof now !== 'number' || !(now >= 0 && now <= MAX_CLOCK_MS)) {
      throw new TypeError(`HandleMap ${JSON.stringify(this.name)}: clock() must return a number of ms from 0 to 2^52, got ${describe(now)}`)
    }
    return now
  }

  // The site of the insert being made, and the countdown to the next capture.
  #captureInsertSite (below) {
    // Set first: a capture that throws (at the stack limit, say) is retried
    // at the next insert. The stack limit can also be hit by this call itself,
    // before this line runs: the countdown is then left at 0, which is why the
    // callers capture at `<= 0` (at `=== 0` the next decrement went below zero
    // and no insert was recorded again).
    this.#countdown = 1
    const budget = this.#budget
    if (budget === null) {
      const site = callsite.siteOf(below, this.#config.stackDepth)
      this.#countdown = this.#nextSampleGap()
      return site
    }
    const start = budget.now()
    const site = callsite.siteOf(below, this.#config.stackDepth)
    this.#countdown = budget.nextGap(start)
    return site
  }

  // A remove's or clear's capture; in 'auto' its time counts against the budget.
  #capturePaid (below) {
    const budget = this.#budget
    if (budget === null) return callsite.siteOf(below, this.#config.stackDepth)
    const start = budget.now()
    const site = callsite.siteOf(below, this.#config.stackDepth)
    budget.paid(start)
    return site
  }

  #nextSampleGap () {
    // Random gaps averaging sampleRate, so periodic traffic is not aliased.
    const rate = this.#sampling
    return rate === 1 ? 1 : 1 + Math.floor(this.#random() * (2 * rate - 1))
  }

  // The `random` option (Math.random by default), checked: a test that
  // replays a sampling run must not get NaN gaps silently.
  #random () {
    const random = this.#config.random
    const u = random()
    if (typeof u !== 'number' || !(u >= 0 && u < 1)) {
      throw new TypeError(`HandleMap ${JSON.stringify(this.name)}: option 'random' must return numbers in [0, 1), got ${typeof u === 'number' ? u : typeof u}`)
    }
    return u
  }

  #isRemoveSampled (site) {
    const count = (this.#removeCounts.get(site) || 0) + 1
    this.#removeCounts.set(site, count)
    if (count <= REMOVE_SITES_ALWAYS) return true
    // Random gaps (mean REMOVE_SAMPLE_PERIOD), so a periodic pattern of
    // remove sites is not aliased onto one of them.
    if (--this.#removeCountdown > 0) return false
    this.#removeCountdown = 1 + Math.floor(this.#random() * (2 * REMOVE_SAMPLE_PERIOD - 1))
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
    if (this.#budget !== null) this.#countdown = this.#budget.replan(this.#budget.now(), this.#countdown)
    const expired = this.#drain(true)
    return expired === null ? 0 : this.#expire(expired)
  }

  // The clock is read before the log is touched: a clock that throws loses
  // no operation. Once the ledger has seen the log, it is emptied whatever
  // happened (a failed drain is not replayed twice).
  #drain (expire) {
    const now = this.#now()
    const oldestSlot = this.#oldestSlot()
    try {
      return this.#native.drain(this.#log, this.#logLength, now, oldestSlot, expire)
    } finally {
      // Stores, not a call: see #deferLog.
      this.#logLength = 0
      this.#lastStamp = -1
    }
  }

  #expire (triples) {
    const handedOver = []
    for (let i = 0; i < triples.length; i += 3) {
      const slot = triples[i]
      const key = this.#entries[slot << 1]
      const value = this.#entries[(slot << 1) + 1]
      const held = (this.#slots.get(key) & HELD) !== 0
      this.#slots.delete(key)
      this.#siteBySlot.delete(slot)
      this.#freeEntry(slot)
      const { site, stack } = callsite.describe(triples[i + 1])
      const { appFrame, inDependency } = appFrameOf(stack)
      handedOver.push({ key, value, ageMs: triples[i + 2], site, stack, held, appFrame, inDependency })
    }
    this.#native.setOldestSlot(this.#oldestSlot())
    if (expireChannel.hasSubscribers) publishExpired(this.name, this.#native.id, handedOver)
    // Each entry is handed over whatever the others' hand-overs did.
    let failure = null
    for (const entry of handedOver) {
      try {
        this.#handOver(entry)
      } catch (error) {
        failure ??= { error }
      }
    }
    if (failure !== null) throw failure.error
    return handedOver.length
  }

  #handOver (entry) {
    // A held entry that expires is a call still running, not a lost cleanup.
    if (this.#config.strict && !entry.held) this.#warnOfLeak(entry)
    const onExpire = this.#config.onExpire
    if (onExpire === undefined) return
    try {
      onExpire(entry)
    } catch (error) {
      const at = entry.site ? clean(where(entry.site, entry.appFrame, entry.inDependency)) : 'an unrecorded site'
      this.#warn(`onExpire threw for an entry inserted at ${at}: ${describeThrown(error)}`, 'HANDLE_LEDGER_CALLBACK_FAILED',
        'The entry had already left the map; fix onExpire (or catch inside it) so expiry work is not lost.', error)
    }
  }

  #warnOfTickFailure (error) {
    const message = describeThrown(error)
    if (this.#lastTickFailure === message) return
    this.#lastTickFailure = message
    this.#warn(`its expiry tick failed (${message}); it retries on the next tick`, 'HANDLE_LEDGER_TICK_FAILED',
      'Usually a custom clock() that threw or returned a bad value; the same failure is not repeated until it changes.', error)
  }

  // A HandleLedgerWarning about this map: a callback's failure must never
  // escape the timer that ran it, so it is reported instead.
  #warn (message, code, detail, cause) {
    const warning = new Error(`HandleMap ${JSON.stringify(this.name)}: ${message}`)
    warning.name = 'HandleLedgerWarning'
    warning.code = code
    warning.detail = detail
    warning.cause = cause
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
    const warning = new Error(`HandleMap ${JSON.stringify(this.name)}: an entry inserted at ${clean(site)} expired after ${(entry.ageMs / 1000).toFixed(1)}s without being removed (further warnings for this site are muted for a minute)`)
    warning.name = 'HandleLeakWarning'
    warning.code = 'HANDLE_LEDGER_EXPIRED'
    warning.detail = `Remove the entry on every path out of ${site}, or raise the map's ttl if it is meant to live longer.`
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

function monotonicNow () {
  return performance.timeOrigin + performance.now()
}

// What a user callback threw, as text, whatever it is: a revoked Proxy, an
// object whose `message` getter throws, a symbol. Never throws itself.
function describeThrown (error) {
  try {
    if ((typeof error === 'object' && error !== null) || typeof error === 'function') {
      const message = error.message
      if (typeof message !== 'string') return `${describe(error)} without a message`
      return message.length > 500 ? `${message.slice(0, 500)}...` : message
    }
    return typeof error === 'symbol' ? 'a symbol' : String(error)
  } catch {
    return 'a thrown value that cannot be described'
  }
}

// ---- the handle acquire() returns ---------------------------------------

/** A held entry: `release()` removes it once; `[Symbol.dispose]` is release(). */
class HeldEntry {
  #map
  #key
  #serial

  constructor (map, key, serial) {
    this.#map = map
    this.#key = key
    this.#serial = serial
  }

  get key () {
    return this.#key
  }

  /** True when this call removed the entry; false when released before, or the entry is gone (expired, deleted, cleared). */
  release () {
    const map = this.#map
    if (map === null) return false
    this.#map = null // released once, whatever follows
    return releaseHeldEntry(map, this.#key, this.#serial)
  }

  get [Symbol.toStringTag] () {
    return 'HeldEntry'
  }
}

// Node 18.18+/20.4+ define Symbol.dispose as Symbol.for('nodejs.dispose'); a
// runtime with explicit resource management has its own Symbol.dispose; one
// without either gets a polyfill, maybe after this module loads. The handle
// answers to each that exists when acquire() runs.
let knownDispose
function defineDispose () {
  knownDispose = Symbol.dispose
  if (typeof knownDispose !== 'symbol') return
  Object.defineProperty(HeldEntry.prototype, knownDispose, {
    value: disposeHeldEntry, writable: true, configurable: true
  })
}
function disposeHeldEntry () {
  this.release()
}
Object.defineProperty(HeldEntry.prototype, Symbol.for('nodejs.dispose'), {
  value: disposeHeldEntry, writable: true, configurable: true
})
defineDispose()

function isThenable (value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function'
}

// The AbortSignal of hold()'s options, checked as Node checks one; undefined for none.
function signalOf (options) {
  if (options === undefined) return undefined
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`map.hold(key, value, fn, options): options must be an object, got ${shownValue(options)}`)
  }
  const signal = options.signal
  if (signal === undefined) return undefined
  if (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') {
    throw new TypeError(`map.hold(key, value, fn, options): options.signal must be an AbortSignal, got ${shownValue(signal)}`)
  }
  return signal
}

function shownValue (value) {
  return typeof value === 'symbol' ? 'a symbol' : inspect(value, { depth: 0, breakLength: Infinity })
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

module.exports = { HandleMap, internals }
