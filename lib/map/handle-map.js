'use strict'
// HandleMap: a Map whose bookkeeping lives in Rust.
//
// The hot path (set/get/has/delete) is plain JS: a Map from key to a small
// integer *slot*, keys and values in one array by slot, and a few int32
// words appended to an operation log per insert/remove. The ledger drains
// that log in one native call per few thousand operations or per tick, so no
// map operation crosses into native code (a napi call costs ~3 Map
// operations; see ARCHITECTURE.md for the measurement).
//
// Every insert goes through #insert and every removal through #free, whether
// it came from set/delete, hold/acquire/release, or an expiry.

const { threadId } = require('node:worker_threads')
const { inspect } = require('node:util')
const native = require('../../binding.js')
const { normalize } = require('./options.js')
const { describeValue } = require('../shared/options.js')
const callsite = require('./callsite.js')
const { Sampler } = require('./sampler.js')
const { annotateMaps } = require('./app-frame.js')
const { ExpiryHandOver } = require('./expiry-hand-over.js')
const { warn, describeThrown } = require('./warnings.js')
const { HandleMapIterator } = require('./iterator.js')
const { TICK, msAtTick, monotonicNow, clockReplaced } = require('./clock.js')
const held = require('./held.js')
const { liveMaps } = require('./live-maps.js')
const { internals } = require('./internals.js')
// The map's layer sits below the report layer: what it needs of reports
// (validating report options, rendering assertEmpty()'s message, the error it
// throws) comes from lib/shared, leaf modules that require nothing of lib/.
const { reportOptions } = require('../shared/report-options.js')
const { formatReport, insertedAt } = require('../shared/format.js')
const { HandleLeakError } = require('../shared/errors.js')

// Operation codes: the first word of an operation is `slot << 3 | code`
// (op-codes.js reads them from the binding and checks the shift of 3).
const { INSERT, REMOVE, REMOVE_AT, OVERWRITE, TOUCH, CLEAR, TIME, TIME_COARSE, HELD_SITE } = require('./op-codes.js')
const LOG_WORDS = 8192
// Words each operation takes, by its code (the low 3 bits of its first word).
const OPERATION_WORDS = [0, 2, 1, 2, 1, 1, 2, 3]
const LOG_HEADROOM = 6 // the longest operation (TIME + INSERT) is 5 words
// A clock beyond this is a bug (today is ~2^40.6 ms since 1970).
const MAX_CLOCK_MS = 2 ** 52
// The Map holds key -> slot, plus this bit when the insert site was recorded
// (the site then sits in #siteBySlot): unrecorded entries, the many in
// 'sampled' mode, cost no extra memory and no extra lookup on delete.
const RECORDED = 1 << 29
const SLOT = RECORDED - 1
// The Map also holds this bit for entries inserted by hold(), which removes
// them itself when the call ends: when one expires, it is a slow call, not a
// lost cleanup. It is the op log's HELD_SITE bit (1 << 30), which marks the
// insert for the ledger the same way, so an insert logs `site | heldBit`.
const HELD = HELD_SITE
if (HELD <= RECORDED) throw new Error('the held bit must sit above the recorded bit and the slot')
// The value of #lastTick that no tick equals: the next operation stamps.
const STAMP_NEXT = -1

// The maps being shown by inspect() right now, to show a cycle as [Circular].
const inspecting = new Set()

// A map collected without close() still has its last operations in its log:
// its finalizer applies them, so its figures (and its name's counters) are whole.
const collected = new FinalizationRegistry(({ ledger, log, customClock }) => {
  try {
    // Every operation of a map with a custom clock carries its own stamp.
    ledger.drain(log, usedLength(log), customClock ? 0 : monotonicNow(), -1, false)
  } catch {} // a ledger out of step with a map that is gone: nothing to tell
  ledger.close()
})

class HandleMap {
  // Private state: nothing of it shows through JSON.stringify, Object.keys or
  // structuredClone, which see a HandleMap as they see a Map (no own keys).
  #clock
  #closed
  #config
  #countdown
  #entries
  #freeSlot
  #handOver
  #lastSerial
  #lastStamp
  #lastTick
  #lastTickFailure
  #log
  #logLength = 0
  #maxSize
  #native
  #nextSlot
  #recording
  #sampler
  #serials
  #siteBySlot
  #slots
  #timer
  #unsure
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
    // The serial of the insert that filled each slot (the ledger numbers its
    // inserts the same way): an expiry handed back, or a release, acts only
    // on the very entry it means.
    // A plain array: an insert appends to it without a bounds check of its
    // own, which a typed array needs (measured with bench/ab.js).
    this.#serials = []
    this.#lastSerial = 0
    this.#log = new Int32Array(LOG_WORDS)
    this.#clock = config.clock === undefined ? null : config.clock
    this.#lastStamp = -1
    this.#lastTick = STAMP_NEXT
    this.#unsure = false
    this.#sampler = new Sampler(config)
    // The sampler's mode, kept here: the insert path reads one field.
    this.#recording = !this.#sampler.off
    this.#countdown = this.#sampler.firstGap()
    this.#siteBySlot = new Map()
    this.#maxSize = config.maxSize
    this.#closed = false
    this.#native = new native.NativeLedger({
      name: config.name,
      ttlMs: config.ttl,
      callSites: config.callSites,
      sampleRate: config.sampleRate,
      threadId,
      flushIntervalMs: config.flushInterval,
      defaultClock: this.#clock === null,
      now: this.#now()
    })
    this.#handOver = new ExpiryHandOver(config, () => this.#native.id, () => this.#expiringSites(), queued => this.#holds(queued))
    this.#compileRemovalPath()
    this.#timer = this.#startTicking(config.flushInterval)
    liveMaps.add(this.#weakSelf)
    collected.register(this, { ledger: this.#native, log: this.#log, customClock: this.#clock !== null }, this.#weakSelf)
    if (entries !== null) {
      try {
        for (const entry of entries) {
          if (entry === null || (typeof entry !== 'object' && typeof entry !== 'function')) {
            throw new TypeError(`Iterator value ${typeof entry === 'symbol' ? 'a symbol' : String(entry)} is not an entry object`)
          }
          const handle = this.#slots.get(entry[0])
          if (handle === undefined) this.#insert(entry[0], entry[1], 0, HandleMap)
          else this.#overwrite(handle, entry[1])
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
    const handle = this.#slots.get(key)
    if (handle === undefined) this.#insert(key, value, 0, HandleMap.prototype.set)
    else this.#overwrite(handle, value)
    return this
  }

  // The mutators do everything that can throw (a full log's hand-over, the
  // clock, a call-site capture, any call at all near the stack's edge, a Map
  // at its maximum size) before their first change, and then change the map
  // and log the change with stores and Map builtins only, no call between:
  // an exception leaves the map and its ledger as they were, never half done.
  delete (key) {
    const slots = this.#slots
    const handle = slots.get(key)
    if (handle === undefined) return false
    this.#reserveLog()
    if ((handle & RECORDED) !== 0) {
      this.#free(key, handle, this.#beforeRecordedRemove(handle, HandleMap.prototype.delete))
      return true
    }
    // #free for an unrecorded entry, inlined by hand: the most common
    // remove, and the budget V8 inlines a caller's callees by (see #insert)
    // leaves #free out of a caller that also inserts.
    const slot = handle & SLOT
    const entries = this.#entries
    slots.delete(key)
    entries[slot << 1] = this.#freeSlot
    entries[(slot << 1) + 1] = undefined
    this.#freeSlot = slot
    const at = this.#logLength
    this.#log[at] = slot << 3 | REMOVE
    this.#logLength = at + 1
    return true
  }

  clear () {
    const site = this.#recording ? this.#sampler.capturePaid(HandleMap.prototype.clear) : 0
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
    const tick = TICK[0]
    if (tick !== this.#lastTick) this.#stamp(tick)
    const log = this.#log
    const at = this.#logLength
    log[at] = (handle & SLOT) << 3 | TOUCH
    this.#logLength = at + 1
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
    const { site: siteText, stack } = callsite.describeStack(site)
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
    // Judged at any age: an entry still in the map when a test asserts it
    // empty is a leak, however young.
    const report = this.report({ oldest: 5, outlierFloorMs: 0 })
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

  // ---- held entries (lib/map/held.js) ------------------------------------

  /**
   * Inserts `key` -> `value`, runs `fn(value)`, and removes the entry when fn
   * returns, throws, or (for a promise) settles; returns what fn returns (a
   * promise settling the same way, after the removal, when fn returns one).
   * A live `key` throws and changes nothing. With `options.signal`, returns a
   * promise, which an abort rejects with `signal.reason` after removing the entry.
   */
  hold (key, value, fn, options) {
    if (typeof fn !== 'function') throw new TypeError(`map.hold(key, value, fn): fn must be a function, got ${held.shownValue(fn)}`)
    const signal = held.signalOf(options)
    if (signal !== undefined) return held.holdUntilAborted(this, key, value, fn, signal, HandleMap.prototype.hold)
    const serial = this.#insertNew(key, value, HELD, HandleMap.prototype.hold)
    let result
    try {
      result = fn(value)
      // Inside the try: a `then` getter that throws must not keep the entry.
      if (held.isThenable(result)) return this.#releaseWhenSettled(result, key, serial)
    } catch (error) {
      this.#release(key, serial)
      throw error
    }
    this.#release(key, serial)
    return result
  }

  /**
   * Inserts `key` -> `value` and returns its handle: `release()` (idempotent)
   * and `[Symbol.dispose]`, for `using entry = map.acquire(id, ctx)`.
   * A live `key` throws and changes nothing. Unlike hold(), nothing removes
   * the entry but its release: a forgotten one is a leak, judged as any.
   */
  acquire (key, value) {
    const serial = this.#insertNew(key, value, 0, HandleMap.prototype.acquire)
    return new held.HeldEntry(this, key, serial)
  }

  async #releaseWhenSettled (pending, key, serial) {
    try {
      return await pending
    } finally {
      this.#release(key, serial)
    }
  }

  // A held key is unique while in flight.
  #insertNew (key, value, heldBit, below) {
    if (this.#slots.has(key)) {
      throw new Error(`HandleMap ${JSON.stringify(this.name)}: key ${keyText(key)} is live; a held key is unique while in flight (nothing was inserted)`)
    }
    return this.#insert(key, value, heldBit, below)
  }

  /** Removes the entry of insert `serial` if `key` still maps to it; true if it did. */
  #release (key, serial) {
    const handle = this.#slots.get(key)
    if (handle === undefined || this.#serials[handle & SLOT] !== serial) return false
    this.#reserveLog()
    if ((handle & RECORDED) !== 0) {
      const tick = TICK[0]
      if (tick !== this.#lastTick) this.#stamp(tick)
    }
    this.#free(key, handle, 0)
    return true
  }

  static #insertHeld (map, key, value, below) {
    return map.#insertNew(key, value, HELD, below)
  }

  static #releaseHeld (map, key, serial) {
    return map.#release(key, serial)
  }

  static {
    held.useMapAccess(HandleMap.#insertHeld, HandleMap.#releaseHeld)
  }

  // ---- the one insert and the one free ------------------------------------

  // The hot path is kept small in bytecode, its rare branches in methods of
  // their own, and no method between set() and #insert: V8 inlines a
  // caller's callees up to a total bytecode budget, so the less the insert
  // and the free take, the more of the caller's own work is inlined with
  // them (measured with bench/ab.js; ARCHITECTURE.md).

  /** Inserts a key that is not in the map; returns the insert's serial. */
  #insert (key, value, heldBit, below) {
    this.#reserveLog()
    const slots = this.#slots
    if (slots.size >= this.#maxSize) this.#refuseFull()
    const tick = TICK[0]
    if (tick !== this.#lastTick) this.#stamp(tick)
    // `<= 0`, not `=== 0`: see #captureInsertSite.
    const site = this.#recording && --this.#countdown <= 0 ? this.#captureInsertSite(below) : 0
    const free = this.#freeSlot
    const fresh = free === -1 ? this.#nextSlot : free
    // From here on no call: see the mutators' comment. A Map at its
    // maximum size throws in the first set, before the slot is taken.
    const entries = this.#entries
    if (key === 0) key = 0 // -0 and +0 are one key; store +0 like Map does
    slots.set(key, site === 0 ? fresh | heldBit : fresh | heldBit | RECORDED)
    if (site !== 0) this.#siteBySlot.set(fresh, site)
    const serial = (this.#lastSerial + 1) | 0
    this.#lastSerial = serial
    this.#serials[fresh] = serial
    if (free === -1) this.#nextSlot = fresh + 1
    else this.#freeSlot = entries[free << 1]
    entries[fresh << 1] = key
    entries[(fresh << 1) + 1] = value
    const log = this.#log
    const at = this.#logLength
    log[at] = fresh << 3 | INSERT
    log[at + 1] = site | heldBit
    this.#logLength = at + 2
    return serial
  }

  /** A new value for the live entry `handle`: it keeps its insert, as in a Map. */
  #overwrite (handle, value) {
    this.#reserveLog()
    const tick = TICK[0]
    if (tick !== this.#lastTick) this.#stamp(tick)
    const slot = handle & SLOT
    this.#entries[(slot << 1) + 1] = value
    const log = this.#log
    const at = this.#logLength
    log[at] = slot << 3 | OVERWRITE
    this.#logLength = at + 1
  }

  // Kept out of #insert, so the insert stays small enough for V8 to inline.
  #refuseFull () {
    throw new RangeError(`HandleMap ${JSON.stringify(this.name)} is full (maxSize ${this.#config.maxSize}); the entry was not inserted`)
  }

  // Before a recorded entry leaves: stamp its lifetime's end, and capture
  // the remove site when this remove is sampled.
  #beforeRecordedRemove (handle, below) {
    const tick = TICK[0]
    if (tick !== this.#lastTick) this.#stamp(tick)
    return this.#sampler.removeSampled(this.#siteBySlot.get(handle & SLOT)) ? this.#sampler.capturePaid(below) : 0
  }

  /**
   * Takes the entry `key` -> `handle` out (stores and Map builtins only) and
   * logs its removal: REMOVE, or REMOVE_AT with `removeSite`; nothing for an
   * entry the ledger expired (`removeSite` EXPIRED), which #takeExpired
   * queued for its hand-over first.
   */
  #free (key, handle, removeSite) {
    const slot = handle & SLOT
    const entries = this.#entries
    this.#slots.delete(key)
    if ((handle & RECORDED) !== 0) this.#siteBySlot.delete(slot)
    entries[slot << 1] = this.#freeSlot
    entries[(slot << 1) + 1] = undefined
    this.#freeSlot = slot
    if (removeSite === EXPIRED) return
    const log = this.#log
    let at = this.#logLength
    if (removeSite === 0) {
      log[at++] = slot << 3 | REMOVE
    } else {
      log[at++] = slot << 3 | REMOVE_AT
      log[at++] = removeSite
    }
    this.#logLength = at
  }

  // Whether the map still holds the very entry `queued` was taken from: true
  // only when its take-out was cut short after it was queued (V8 can throw
  // at the stack's edge inside a Map builtin), and then it is not expired.
  #holds ({ key, slot, serial }) {
    const handle = this.#slots.get(key)
    return handle !== undefined && (handle & SLOT) === slot && this.#serials[slot] === serial
  }

  // V8 compiles a function at its first call, and compiling needs stack: a
  // hold() whose fn overflowed the stack would find its release path cold
  // and fail to remove its entry. So the path runs once here, on the empty
  // map (a removal of slot 0, undone at once: nothing is logged or kept).
  #compileRemovalPath () {
    HandleMap.#releaseHeld(this, undefined, 0)
    this.#free(undefined, 0, 0)
    this.#entries.length = 0
    this.#freeSlot = -1
    this.#logLength = 0
    this.#log[0] = 0
  }

  // ---- the op log and the clock ------------------------------------------

  #reserveLog () {
    if (this.#logLength > LOG_WORDS - LOG_HEADROOM) this.#deferLog()
  }

  // A full log goes to the ledger's maintenance thread (a copy, ~32 KB),
  // so this thread does not wait while it is applied; every reader of the
  // ledger catches up first. Like a drain, the clock is read before the log
  // is touched, and once handed over the log is emptied whatever happened:
  // if the hand-over failed, the ledger may have missed it, so it is
  // rebuilt at the next drain (#unsure).
  #deferLog () {
    const now = this.#now()
    const unsure = this.#unsure
    const used = this.#logLength
    this.#unsure = true
    try {
      this.#native.defer(this.#log, used, now)
    } finally {
      // Stores, not a call: a call here could overflow the stack after the
      // ledger took the log, and the next hand-over would apply it twice.
      this.#logLength = 0
      this.#lastStamp = -1
      this.#lastTick = STAMP_NEXT
    }
    this.#log.fill(0, 0, used) // see usedLength()
    this.#unsure = unsure
  }

  // Writes a TIME word when the stamp moved: maps with a custom clock read it
  // at every operation (so do the others while performance.now is replaced);
  // others take it from the coarse clock's `tick`, which moves about once a
  // millisecond (lib/map/clock.js). A coarse time may lag when the clock's
  // thread was not scheduled, so its TIME word says so: the ledger then dates
  // the entry by it but starts its TTL no earlier than the drain.
  #stamp (tick) {
    if (this.#clock !== null || clockReplaced()) {
      this.#writeTime(TIME, this.#now())
    } else {
      this.#lastTick = tick
      this.#writeTime(TIME | TIME_COARSE, msAtTick(tick))
    }
  }

  #writeTime (code, now) {
    // Rounded up: the entry's deadline is never before its true one.
    const stamp = Math.ceil(now)
    if (stamp === this.#lastStamp) return
    this.#lastStamp = stamp
    const log = this.#log
    const at = this.#logLength
    log[at] = code
    log[at + 1] = stamp % 0x100000000 | 0
    log[at + 2] = Math.floor(stamp / 0x100000000)
    this.#logLength = at + 3
  }

  // The map's clock in ms, fractions kept (the ledger rounds stamps up and
  // "now" down). The default is monotonic (lib/map/clock.js).
  #now () {
    if (this.#clock === null) return monotonicNow()
    const now = this.#clock()
    if (typeof now !== 'number' || !(now >= 0 && now <= MAX_CLOCK_MS)) throw badClock(this.name, now)
    return now
  }

  // The site of the insert being made, and the countdown to the next capture.
  #captureInsertSite (below) {
    // Set first: a capture that throws (at the stack limit, say) is retried
    // at the next insert. The stack limit can also be hit by this call itself,
    // before this line runs: the countdown is then left at 0, which is why
    // #insert captures at `<= 0` (at `=== 0` the next decrement went below
    // zero and no insert was recorded again).
    this.#countdown = 1
    const site = this.#sampler.captureInsert(below)
    this.#countdown = this.#sampler.gap
    return site
  }

  // ---- draining, expiry and keeping the ledger in step --------------------

  /** Applies the op log without expiring anything (safe inside a set()). */
  #flush () {
    // A custom clock may have moved with no operation: the ledger must hear it.
    if (this.#logLength === 0 && this.#clock === null && !this.#unsure) return
    this.#drain(false)
  }

  /** The timer's work: drain, expire, hand expired entries over. Returns how many expired. */
  #tick () {
    if (this.#closed) return 0
    const handOver = this.#handOver
    if (this.#logLength === 0 && this.#config.ttl === 0 && handOver.pending === 0 && !this.#unsure) return 0
    this.#countdown = this.#sampler.replan(this.#countdown)
    // Entries a cut-short delivery left queued go first.
    if (handOver.pending === 0) this.#drain(true)
    return handOver.deliver()
  }

  // The clock is read before the log is touched: a clock that throws loses
  // no operation. Once the ledger has seen the log, it is emptied whatever
  // happened (a failed drain is not replayed twice). From the native call
  // until the expired entries are out of JavaScript's tables, the two halves
  // may disagree: #unsure says so, and if anything cuts that span short (the
  // stack's edge, a refused batch), the ledger is rebuilt from JavaScript's
  // state rather than trusted.
  #drain (expire) {
    const now = this.#now()
    const oldestSlot = this.#oldestSlot()
    const unsure = this.#unsure
    this.#unsure = true
    let due = null
    let failure = null
    const used = this.#logLength
    try {
      due = this.#native.drain(this.#log, used, now, oldestSlot, expire && !unsure)
    } catch (error) {
      failure = error
    } finally {
      // Stores, not a call: see #deferLog.
      this.#logLength = 0
      this.#lastStamp = -1
      this.#lastTick = STAMP_NEXT
    }
    this.#log.fill(0, 0, used) // see usedLength()
    if (unsure || failure !== null) {
      this.#resync(now, failure)
      return
    }
    if (due !== null) this.#takeExpired(due)
    this.#unsure = false
  }

  // Takes the entries the ledger expired out of the map and queues them for
  // delivery: stores and Map builtins only. Each is checked first: the key
  // in that slot must still map to it, under the serial of the insert the
  // ledger expired. One that is not (the two halves drifted apart) is left
  // alone, and the ledger is rebuilt.
  #takeExpired (due) {
    const slots = this.#slots
    const entries = this.#entries
    let stale = 0
    for (let i = 0; i < due.length; i += 4) {
      const slot = due[i]
      const key = entries[slot << 1]
      const handle = slots.get(key)
      if (handle === undefined || (handle & SLOT) !== slot || this.#serials[slot] !== (due[i + 3] | 0)) {
        stale++
        continue
      }
      // Queued first: an entry is never out of the map without being
      // queued. A Map builtin can still throw at the stack's edge after
      // that (Node 24 does), leaving it queued and in the map: the delivery
      // then drops it (#holds), and the ledger is rebuilt.
      this.#handOver.queue.push({ key, value: entries[(slot << 1) + 1], siteId: due[i + 1], ageMs: due[i + 2], held: (handle & HELD) !== 0, slot, serial: this.#serials[slot] })
      this.#free(key, handle, EXPIRED)
    }
    if (stale > 0) {
      this.#resync(this.#now(), new Error(`${stale} expired ${stale === 1 ? 'entry was' : 'entries were'} not the entries the map holds`))
      return
    }
    this.#native.setOldestSlot(this.#oldestSlot())
  }

  // The ledger may have missed or misapplied operations: start it again from
  // what JavaScript holds (every live slot, its recorded site and serial).
  // The report then says its per-site figures were reset, and when.
  #resync (now, failure) {
    this.#unsure = true
    const live = new Int32Array(this.#slots.size * 3)
    let at = 0
    for (const handle of this.#slots.values()) {
      const slot = handle & SLOT
      const site = (handle & RECORDED) === 0 ? 0 : this.#siteBySlot.get(slot)
      live[at] = slot
      live[at + 1] = (handle & HELD) === 0 ? site : site | HELD_SITE
      live[at + 2] = this.#serials[slot]
      at += 3
    }
    this.#native.rebuild(live, at, this.#lastSerial, now)
    this.#native.setOldestSlot(this.#oldestSlot())
    this.#unsure = false
    warn(this.name, `its ledger was rebuilt from the map's own entries (${failure === null ? 'an earlier hand-over was cut short' : describeThrown(failure).split('\n')[0]}); no entry was lost, and per-site figures count from now`,
      'HANDLE_LEDGER_RESYNC', 'The report shows `reset` with the time. Please report this with the message if it repeats.', failure ?? undefined)
  }

  // Where expired entries were inserted, by the ledger's estimate: for the
  // warning about an entry whose own site was not sampled.
  #expiringSites () {
    const [report] = annotateMaps([this.#native.report({ limit: 5 }, this.#now())])
    return report.sites.filter(site => site.expired > 0 && typeof site.site === 'string')
      .slice(0, 3).map(site => insertedAt(site.site, site))
  }

  #oldestEntries (count, includeKeys) {
    const now = this.#now()
    const entries = []
    for (const [key, handle] of this.#slots) {
      if (entries.length >= count) break
      const found = this.#native.entryInfo(handle & SLOT, now)
      if (found === null) continue
      const { site } = callsite.describeStack(found[3])
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

  // ---- the timer and the registry -----------------------------------------

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

  #warnOfTickFailure (error) {
    const message = describeThrown(error)
    if (this.#lastTickFailure === message) return
    this.#lastTickFailure = message
    warn(this.name, `its expiry tick failed (${message}); it retries on the next tick`, 'HANDLE_LEDGER_TICK_FAILED',
      'Usually a custom clock() that threw or returned a bad value; the same failure is not repeated until it changes.', error)
  }

  // What the rest of the package (live-maps, registry, tests) may reach of a
  // map (internals.js); users cannot: it is not exported from index.js.
  static {
    Object.assign(internals, {
      nativeLedger: map => map.#native,
      flush: map => map.#flush(),
      // Test hook: time this map's captures with `now` (ms), so a sampling
      // run replays exactly with a seeded `random` option.
      useCaptureClock: (map, now) => map.#sampler.useClock(now),
      oldestEntries: (map, count, includeKeys) => map.#oldestEntries(count, includeKeys)
    })
  }

  #unregister () {
    this.#closed = true
    clearInterval(this.#timer)
    liveMaps.delete(this.#weakSelf)
    collected.unregister(this.#weakSelf)
    this.#native.close()
  }
}

// The length of a log whose map is gone (its finalizer's drain). A drain or
// hand-over zeroes the words it used, so the log ends where an operation's
// first word would be 0 (no operation's is: every code is 1 to 7).
function usedLength (log) {
  let at = 0
  while (at < log.length && log[at] !== 0) at += OPERATION_WORDS[log[at] & 7]
  return Math.min(at, log.length)
}

// #free's removeSite for an entry the ledger expired (it logs nothing).
const EXPIRED = -1

// Out of #now, which the hot path inlines: the smaller it is, the more of
// the caller's own code V8 inlines with it.
function badClock (name, now) {
  return new TypeError(`HandleMap ${JSON.stringify(name)}: clock() must return a number of ms from 0 to 2^52, got ${describeValue(now)}`)
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
