'use strict'
// Instrumenting a map you don't own: a library's pending-request (or
// pending-ack) Map swapped for a HandleMap that adopts its entries, so the
// library's lost cleanups show in reports with the app's own line
// ("app.js:21 (via client.js:135 in a dependency)").

const { types } = require('node:util')
const { HandleMap } = require('./handle-map.js')

// object -> Map(property -> { map, original }) for uninstrument().
const swapped = new WeakMap()

// Entries already in the map were inserted before anything was recorded: they
// are put in from a function whose frame says so, the site of every adopted
// entry (its real insert site is unknown).
// eslint-disable-next-line no-new-func
const adopt = new Function('map', 'entries', `return function adopted () {
  for (const [key, value] of entries) map.set(key, value)
  return entries.length
}
//# sourceURL=handle-ledger/adopted-entries-insert-site-unknown`)

function describeProperty (object, property) {
  const owner = object.constructor && typeof object.constructor.name === 'string' ? object.constructor.name : 'object'
  return `${owner}.${String(property)}`
}

/**
 * Replaces `object[property]`, an existing `Map`, with a `HandleMap` (created
 * with `options`; its name defaults to `Owner.property`) holding the same
 * entries, and returns it. The entries already there are counted as
 * `adopted` (`map.adopted`), their insert site unknown. Library maps are often
 * filled many frames below the app's call: pass a `stackDepth` deep enough
 * (default here 16) to reach the app's own line.
 */
function instrument (object, property, options = {}) {
  if (object === null || (typeof object !== 'object' && typeof object !== 'function')) {
    throw new TypeError('instrument(object, property, options): object must be an object')
  }
  if (typeof property !== 'string' && typeof property !== 'symbol') {
    throw new TypeError('instrument(object, property, options): property must be a string or a symbol')
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError('instrument(object, property, options): options must be an object of HandleMap options')
  }
  const original = object[property]
  if (original instanceof HandleMap) throw new TypeError(`instrument(): ${describeProperty(object, property)} is already a HandleMap`)
  checkPlainMap(original, describeProperty(object, property))
  const descriptor = findDescriptor(object, property)
  if (descriptor === undefined || !('value' in descriptor) || !descriptor.writable) {
    throw new TypeError(`instrument(): ${describeProperty(object, property)} is not a writable data property; it cannot be swapped`)
  }
  const map = new HandleMap({ name: describeProperty(object, property), stackDepth: 16, ...options })
  let adopted
  try {
    adopted = adopt(map, [...original.entries()])()
    object[property] = map
  } catch (error) {
    map.close()
    throw error
  }
  Object.defineProperty(map, 'adopted', { value: adopted, enumerable: false })
  let properties = swapped.get(object)
  if (properties === undefined) {
    properties = new Map()
    swapped.set(object, properties)
  }
  properties.set(property, { map, original })
  return map
}

/**
 * Undoes `instrument()`: the original Map is put back holding the entries the
 * HandleMap holds now, and the HandleMap is closed. Returns the original Map.
 * If the property no longer holds the HandleMap (the library replaced its
 * map, on a reset or a reconnect), the library's new map is left in place:
 * the HandleMap is closed and the property's current value returned.
 */
function uninstrument (object, property) {
  const properties = object !== null && (typeof object === 'object' || typeof object === 'function') ? swapped.get(object) : undefined
  const swap = properties === undefined ? undefined : properties.get(property)
  if (swap === undefined) throw new TypeError(`uninstrument(): ${String(property)} was not instrumented on this object`)
  const { map, original } = swap
  properties.delete(property)
  const current = object[property]
  if (current !== map) {
    map.close()
    return current
  }
  original.clear()
  for (const [key, value] of map) original.set(key, value)
  object[property] = original
  map.close()
  return original
}

// Only a plain Map can be swapped: a subclass's own methods (and overridden
// set/delete) would be gone from the HandleMap put in its place, and a Proxy
// or another realm's Map is not the object the library expects either.
function checkPlainMap (value, what) {
  if (!types.isMap(value)) {
    const got = value === null ? 'null' : types.isProxy(value) ? 'a Proxy' : typeof value
    throw new TypeError(`instrument(): ${what} must be a Map, got ${got}`)
  }
  const proto = Object.getPrototypeOf(value)
  if (proto === Map.prototype) return
  const name = proto !== null && typeof proto.constructor === 'function' ? proto.constructor.name : ''
  const kind = name === 'Map' ? 'a Map of another realm' : name ? `a ${name} (a Map subclass)` : 'a Map with another prototype'
  throw new TypeError(`instrument(): ${what} is ${kind}, not a plain Map: a HandleMap in its place would lose its own methods and overrides, so it cannot be swapped`)
}

function findDescriptor (object, property) {
  for (let at = object; at !== null; at = Object.getPrototypeOf(at)) {
    const descriptor = Object.getOwnPropertyDescriptor(at, property)
    if (descriptor !== undefined) return at === object ? descriptor : undefined
  }
  return undefined
}

module.exports = { instrument, uninstrument }
