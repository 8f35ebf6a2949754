'use strict'
// Dev-mode assertions for test suites: "this map must be empty now" and
// "running this function must not leave handles behind" (as goleak does,
// with retries before a leak is declared).

const { setTimeout: sleep } = require('node:timers/promises')
const { registry } = require('./registry.js')
const { formatReport, clean, insertedAt } = require('../shared/format.js')
const { reasonOfRow } = require('../shared/verdicts.js')
const { labelOf } = require('../map/app-frame.js')
const { HandleLeakError } = require('../shared/errors.js')
const { checkOptionNames } = require('../shared/options.js')

const KNOWN = new Set(['iterations', 'maps', 'settleMs', 'retries'])

function leakCheckOptions (options) {
  options = checkOptionNames(options, 'leakCheck', KNOWN)
  const { iterations = 1, maps, settleMs = 100, retries = 5 } = options
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError('leakCheck option \'iterations\' must be an integer >= 1')
  if (!Number.isFinite(settleMs) || settleMs < 0) throw new RangeError('leakCheck option \'settleMs\' must be a number of ms >= 0')
  if (!Number.isInteger(retries) || retries < 0 || retries > 100) throw new RangeError('leakCheck option \'retries\' must be an integer from 0 to 100')
  if (maps !== undefined && !Array.isArray(maps)) throw new TypeError('leakCheck option \'maps\' must be an array of map names or HandleMaps')
  const names = maps === undefined ? null : new Set(maps.map(map => (typeof map === 'string' ? map : map && map.name)))
  return { iterations, names, settleMs, retries }
}

// A map leaks when its live count grew, or when one of its sites did (entries
// can move from site to site with the map's total unchanged). The site figures
// of a sampled map are estimates that drift as the sampled share moves, so
// there only the map's exact live count can declare a leak.
function grown (difference, names) {
  const maps = difference.maps.filter(map => names === null || names.has(map.name))
  return maps.filter(map => map.liveDelta > 0 || (!map.estimated && map.sites.some(site => site.liveDelta > 0)))
}

// "name: +N live at site" per grown site; the map's own growth when no site shows it.
function describeGrowth (map) {
  const approx = map.estimated ? '~' : ''
  const sites = map.sites.filter(site => site.liveDelta > 0)
  if (sites.length === 0) return [`${clean(map.name)}: +${map.liveDelta} live`]
  return sites.map(site => {
    const reason = site.suspect ? reasonOfRow(site, site.label) : null
    return `${clean(map.name)}: ${approx}+${site.liveDelta} live at ${clean(grownAt(site))}${reason ? ` (${clean(reason)})` : ''}`
  })
}

// The site, and the caller with the most live entries when others went
// through it too (a diff lists no callers; the site's stack is that one's).
function grownAt (site) {
  const at = insertedAt(site.site, site)
  if (site.label || !Array.isArray(site.stack)) return at
  const most = labelOf(site.stack)
  return most ? `${at} (most from ${most})` : at
}

/**
 * Runs `fn` `iterations` times (awaiting it) and rejects with HandleLeakError
 * when any map's or site's live count grew and did not come back within
 * `settleMs` (checked `retries` times with growing waits).
 */
async function leakCheck (fn, options) {
  if (typeof fn !== 'function') throw new TypeError('leakCheck(fn, options): fn must be a function')
  const { iterations, names, settleMs, retries } = leakCheckOptions(options)
  const before = registry.snapshot()
  for (let i = 0; i < iterations; i++) await fn(i)
  let difference = registry.diff(before, registry.snapshot())
  let leaking = grown(difference, names)
  // Back off like goleak: short waits first, the whole budget at most.
  for (let attempt = 1; attempt <= retries && leaking.length > 0; attempt++) {
    await sleep(settleMs * attempt / (retries * (retries + 1) / 2))
    difference = registry.diff(before, registry.snapshot())
    leaking = grown(difference, names)
  }
  if (leaking.length === 0) return difference
  const shown = { ...difference, maps: leaking }
  const summary = leaking.flatMap(describeGrowth).join('; ')
  throw new HandleLeakError(`leakCheck: handles left behind after ${iterations} iteration(s): ${summary}\n${formatReport(shown)}`, shown)
}

module.exports = { HandleLeakError, leakCheck }
