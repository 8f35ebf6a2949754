'use strict'
// The one check of an options object every public entry point makes first:
// undefined (the defaults) or an object whose every name is a known option.
// The values are each caller's to check.

/** A value as an error message shows it: short, never the object's contents. */
function describeValue (value) {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value)
  if (typeof value === 'symbol' || typeof value === 'bigint') return typeof value
  if (typeof value === 'function') return 'a function'
  if (value === null) return 'null'
  if (typeof value === 'object') return 'an object'
  return String(value)
}

/**
 * `options` (`{}` when undefined) once it is an object naming only options in
 * `known` (a Set); otherwise a TypeError naming `who` and the known names.
 */
function checkOptionNames (options, who, known) {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') throw new TypeError(`${who} options must be an object, got ${describeValue(options)}`)
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new TypeError(`${who} has no option '${key}' (known: ${[...known].join(', ')})`)
  }
  return options
}

module.exports = { checkOptionNames, describeValue }
