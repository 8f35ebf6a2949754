'use strict'
// Validation of report options, shared by handleMap.report() and registry.report().

const { checkOptionNames } = require('./options.js')

const KNOWN = new Set(['map', 'limit', 'oldest', 'includeKeys', 'callers', 'outlierFactor', 'outlierFloorMs', 'expiryShare'])

function reportOptions (options) {
  options = checkOptionNames(options, 'report', KNOWN)
  const { map, limit = 20, oldest = 0, includeKeys = false } = options
  if (map !== undefined && typeof map !== 'string') throw new TypeError('report option \'map\' must be a map name (string)')
  if (limit !== Infinity && !(Number.isInteger(limit) && limit >= 0 && limit <= 2 ** 32 - 1)) {
    throw new RangeError('report option \'limit\' must be an integer >= 0 or Infinity')
  }
  if (!(Number.isInteger(oldest) && oldest >= 0 && oldest <= 10_000)) {
    throw new RangeError('report option \'oldest\' must be an integer from 0 to 10000')
  }
  if (typeof includeKeys !== 'boolean') throw new TypeError('report option \'includeKeys\' must be a boolean')
  return { map, limit: limit === Infinity ? 2 ** 32 - 1 : limit, oldest, includeKeys, ...ruleOptions(options) }
}

// The partial-leak rules' knobs, as the native report takes them (undefined:
// the defaults, 16 callers per site, entries judged at 5x the p99 lifetime
// and 1 s at least, an expiry share of 1%).
function ruleOptions ({ callers, outlierFactor, outlierFloorMs, expiryShare }) {
  if (callers !== undefined && !(Number.isInteger(callers) && callers >= 1 && callers <= 1000)) {
    throw new RangeError('report option \'callers\' must be an integer from 1 to 1000')
  }
  if (outlierFactor !== undefined && !(typeof outlierFactor === 'number' && outlierFactor >= 1 && outlierFactor <= 1e6)) {
    throw new RangeError('report option \'outlierFactor\' must be a number from 1 to 1e6')
  }
  if (outlierFloorMs !== undefined && !(Number.isInteger(outlierFloorMs) && outlierFloorMs >= 0 && outlierFloorMs <= 2 ** 52)) {
    throw new RangeError('report option \'outlierFloorMs\' must be an integer number of ms >= 0')
  }
  if (expiryShare !== undefined && !(typeof expiryShare === 'number' && expiryShare > 0 && expiryShare <= 1)) {
    throw new RangeError('report option \'expiryShare\' must be a number above 0 and at most 1')
  }
  return { callers, outlierFactor, outlierFloorMs, expiryShare }
}

module.exports = { reportOptions }
