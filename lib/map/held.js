'use strict'
// Held entries: hold() removes its entry when the call ends, so its cleanup
// cannot be lost; acquire() returns a handle whose release() removes it. The
// map's insert and release are private: the class hands them over once
// (`useMapAccess`), and everything else about holding lives here.

const { inspect } = require('node:util')

let insertHeld // (map, key, value, below) => serial
let releaseHeld // (map, key, serial) => boolean

/** Called once by HandleMap's static block with its private insert and release. */
function useMapAccess (insert, release) {
  insertHeld = insert
  releaseHeld = release
}

/**
 * hold() with an AbortSignal: a promise that settles when fn's result does,
 * or rejects with `signal.reason` on an abort; whichever comes first removes
 * the entry, and whatever the signal does, the entry is removed.
 */
function holdUntilAborted (map, key, value, fn, signal, below) {
  if (signal.aborted) return Promise.reject(signal.reason)
  // Everything that can throw outside a try (at the stack's edge, any call)
  // comes before the insert: an entry in the map always has its hold.
  const hold = { map, key, serial: 0, signal, onAbort: null, settle: null, done: false, error: undefined, nextStranded: null }
  const settled = new Promise((resolve, reject) => { hold.settle = { resolve, reject } })
  hold.onAbort = () => finishHold(hold, false, signal.reason)
  hold.serial = insertHeld(map, key, value, below)
  try {
    signal.addEventListener('abort', hold.onAbort, { once: true })
    const result = fn(value)
    if (!isThenable(result)) {
      finishHold(hold, true, result)
      return settled
    }
    // Also after an abort: fn's late rejection is handled here, not unhandled.
    Promise.resolve(result).then(outcome => finishHold(hold, true, outcome), error => finishHold(hold, false, error))
  } catch (error) {
    // Linked first, with stores only: at the stack's edge the call below may
    // find no room at all, and the next hold to end ends this one.
    hold.error = error
    hold.nextStranded = stranded
    stranded = hold
    finishHold(hold, false, error)
  }
  return settled
}

// Holds whose end could not be called where they failed (see above).
let stranded = null

function endStranded () {
  let hold = stranded
  stranded = null
  while (hold !== null) {
    const next = hold.nextStranded
    hold.nextStranded = null
    finishHold(hold, false, hold.error)
    hold = next
  }
}

// Ends a hold once: removes the entry first (a signal whose
// removeEventListener throws must not keep it), then settles.
function finishHold (hold, fulfilled, outcome) {
  if (stranded !== null) endStranded()
  if (hold.done) return
  hold.done = true
  let failure = null
  try {
    releaseHeld(hold.map, hold.key, hold.serial)
  } catch (error) {
    failure = { error }
  }
  try {
    hold.signal.removeEventListener('abort', hold.onAbort)
  } catch {} // the hold is over either way
  if (failure !== null) hold.settle.reject(failure.error)
  else if (fulfilled) hold.settle.resolve(outcome)
  else hold.settle.reject(outcome)
}

finishHold({ done: true })

/** A held entry: `release()` removes it once; `[Symbol.dispose]` is release(). */
class HeldEntry {
  #map
  #key
  #serial

  constructor (map, key, serial) {
    this.#map = map
    this.#key = key
    this.#serial = serial
    if (Symbol.dispose !== knownDispose) defineDispose()
  }

  get key () {
    return this.#key
  }

  /** True when this call removed the entry; false when released before, or the entry is gone (expired, deleted, cleared). */
  release () {
    const map = this.#map
    if (map === null) return false
    this.#map = null // released once, whatever follows
    return releaseHeld(map, this.#key, this.#serial)
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

// The AbortSignal of hold()'s options, checked up front: the hold must be
// able to stop listening when it ends, so all three members are required.
function signalOf (options) {
  if (options === undefined) return undefined
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`map.hold(key, value, fn, options): options must be an object, got ${shownValue(options)}`)
  }
  const signal = options.signal
  if (signal === undefined) return undefined
  if (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean' ||
      typeof signal.addEventListener !== 'function' || typeof signal.removeEventListener !== 'function') {
    throw new TypeError(`map.hold(key, value, fn, options): options.signal must be an AbortSignal (aborted, addEventListener, removeEventListener), got ${shownValue(signal)}`)
  }
  return signal
}

function shownValue (value) {
  return typeof value === 'symbol' ? 'a symbol' : inspect(value, { depth: 0, breakLength: Infinity })
}

module.exports = { useMapAccess, holdUntilAborted, HeldEntry, isThenable, signalOf, shownValue }
