'use strict'
// Validation of report options, shared by handleMap.report() and registry.report().

const KNOWN = new Set(['map', 'limit', 'oldest', 'includeKeys'])

function reportOptions (options) {
  if (options === undefined) options = {}
  if (options === null || typeof options !== 'object') throw new TypeError('report options must be an object')
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new TypeError(`report has no option '${key}' (known: ${[...KNOWN].join(', ')})`)
  }
  const { map, limit = 20, oldest = 0, includeKeys = false } = options
  if (map !== undefined && typeof map !== 'string') throw new TypeError('report option \'map\' must be a map name (string)')
  if (limit !== Infinity && !(Number.isInteger(limit) && limit >= 0 && limit <= 2 ** 32 - 1)) {
    throw new RangeError('report option \'limit\' must be an integer >= 0 or Infinity')
  }
  if (!(Number.isInteger(oldest) && oldest >= 0 && oldest <= 10_000)) {
    throw new RangeError('report option \'oldest\' must be an integer from 0 to 10000')
  }
  if (typeof includeKeys !== 'boolean') throw new TypeError('report option \'includeKeys\' must be a boolean')
  return { map, limit: limit === Infinity ? 2 ** 32 - 1 : limit, oldest, includeKeys }
}

module.exports = { reportOptions }
