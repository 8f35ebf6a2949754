'use strict'
// Text rendering of reports and diffs: one block per map, one line per site,
// readable in a terminal and in a log line (as Go's
// /debug/pprof/goroutine?debug=1 groups goroutines by stack with counts).
//
// A leaf module: it renders the plain report objects it is given and requires
// nothing of lib/ (only node:path). So every layer may use it, the map
// included (assertEmpty()'s message, warnings), without the map's layer
// depending on the report layer.

const path = require('node:path')

/**
 * Where an entry was inserted, as every rendering says it: the site, or the
 * app's line via the site when the site lies in a dependency. `short`
 * shortens each frame (relative paths).
 */
function where (site, appFrame, inDependency, short = text => text) {
  if (typeof site !== 'string') return '(site not recorded)'
  if (inDependency && typeof appFrame === 'string') return `${short(appFrame)} (via ${short(site)} in a dependency)`
  return short(site)
}

function seconds (ms) {
  if (ms === null || ms === undefined) return '-'
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)}m`
  return `${(ms / 3_600_000).toFixed(1)}h`
}

function signed (n) {
  return n > 0 ? `+${n}` : String(n)
}

// Absolute paths under the working directory read better relative.
function shortSite (site) {
  if (typeof site !== 'string') return '(site not recorded)'
  const cwd = process.cwd() + path.sep
  return site.split(cwd).join('').replace(/file:\/\//g, '')
}

// hold()/acquire() sites: handle-ledger removes their entries, so a long-lived
// one is a slow call, never a lost cleanup.
const HELD_MARK = '  [held: removed when its call ends]'

// Control characters in user data (names, file paths) must not forge extra
// lines or terminal escapes in reports, warnings and error messages.
function clean (text) {
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
}

// 'all' and 'auto' (the default) say nothing while every insert was recorded.
function showsMode (map) {
  return map.estimated || (map.callSites !== 'all' && map.callSites !== 'auto')
}

function mapHeader (map) {
  const approx = map.estimated ? '~' : ''
  const suspect = map.sites.some(site => site.suspect) ? '  SUSPECT' : ''
  return `${clean(map.name)}  live=${map.live}  inserts=${map.inserts}  removes=${map.removes}  expired=${map.expired}` +
    `  oldest=${seconds(map.oldestAgeMs)}${map.threadId ? `  thread=${map.threadId}` : ''}` +
    `${showsMode(map) ? `  callSites=${map.callSites}${approx ? ' (site figures estimated)' : ''}` : ''}${suspect}`
}

function lifetimeText (lifetime) {
  if (!lifetime) return ''
  return `  lifetime p50 ${seconds(lifetime.p50Ms)} p99 ${seconds(lifetime.p99Ms)} max ${seconds(lifetime.maxMs)}`
}

function counts (row, approx) {
  return `${approx}${row.live} live (${approx}${row.inserts} in, ${approx}${row.removes} out` +
    `${row.expired ? `, ${approx}${row.expired} expired` : ''})`
}

/** Where a site's entries come from: the app's line via the site when the site is in a dependency. */
function siteWhere (site) {
  return clean(where(site.site, site.appFrame, site.inDependency, shortSite))
}

/**
 * A caller row's name: the app's line when the site is in a dependency,
 * else the first frame below the site (the line that called it).
 */
function callerName (caller) {
  const stack = Array.isArray(caller.stack) ? caller.stack : []
  if (caller.inDependency && caller.appFrame) return shortSite(caller.appFrame)
  return shortSite(stack[1] ?? stack[0] ?? null)
}

function callerLines (site, approx) {
  const callers = site.callers || []
  if (callers.length < 2 && !site.otherCallers) return []
  const lines = callers.map(caller =>
    `       caller ${clean(callerName(caller))}  ${counts(caller, approx)}  oldest ${seconds(caller.oldestAgeMs)}` +
    `${caller.lifetime ? `  p99 ${seconds(caller.lifetime.p99Ms)}` : ''}${caller.suspect ? '  SUSPECT' : ''}`)
  const other = site.otherCallers
  if (other) lines.push(`       ... ${other.callers} other callers  ${counts(other, approx)}${other.suspect ? '  SUSPECT' : ''}`)
  return lines
}

function siteLines (site, estimated) {
  const approx = estimated ? '~' : ''
  const lines = [`  ${counts(site, approx)}  oldest ${seconds(site.oldestAgeMs)}${lifetimeText(site.lifetime)}  ${siteWhere(site)}` +
    `${site.held ? HELD_MARK : ''}`]
  if (site.suspect) lines.push(`       ${clean(site.reason)}`)
  lines.push(...callerLines(site, approx))
  for (const remove of site.removedAt.slice(0, 3)) {
    lines.push(`       removed at ${clean(shortSite(remove.site))}  ${remove.estimated ? '~' : ''}${remove.count}`)
  }
  return lines
}

function formatMap (map) {
  const lines = [mapHeader(map)]
  for (const site of map.sites) lines.push(...siteLines(site, site.estimated))
  if (map.sitesOmitted > 0) lines.push(`  ... ${map.sitesOmitted} more sites`)
  if (map.sites.length === 0 && map.callSites === 'off' && map.live > 0) lines.push('  (call sites off: counts only)')
  return lines.join('\n')
}

function formatDiffMap (map) {
  const header = `${clean(map.name)}  live=${map.live} (${signed(map.liveDelta)})  inserts ${signed(map.insertsDelta)}` +
    `  removes ${signed(map.removesDelta)}  expired ${signed(map.expiredDelta)}${map.threadId ? `  thread=${map.threadId}` : ''}` +
    `${map.estimated ? '  (site figures estimated)' : ''}${map.closed ? '  closed' : ''}`
  const lines = [header]
  for (const site of map.sites) {
    lines.push(`  ${signed(site.liveDelta)} live (${signed(site.insertsDelta)} in, ${signed(site.removesDelta)} out` +
      `${site.expiredDelta ? `, ${signed(site.expiredDelta)} expired` : ''})  now ${site.live} live  ${siteWhere(site)}${site.held ? HELD_MARK : ''}`)
    if (site.suspect) lines.push(`       ${clean(site.reason)}`)
  }
  return lines.join('\n')
}

/**
 * Renders a registry report (`{ maps }`), one map's report, a diff
 * (`registry.diff()`), or an array of map reports, as text.
 */
function formatReport (report) {
  if (report === null || typeof report !== 'object') throw new TypeError('formatReport(report): expected a report object')
  if (report.kind === 'diff') {
    const title = `handle-ledger diff over ${seconds(report.durationMs)}`
    return [title, ...report.maps.map(formatDiffMap)].join('\n\n') + '\n'
  }
  const maps = Array.isArray(report) ? report : Array.isArray(report.maps) ? report.maps : [report]
  if (maps.length === 0) return 'handle-ledger: no maps registered\n'
  return maps.map(formatMap).join('\n\n') + '\n'
}

module.exports = { formatReport, seconds, signed, shortSite, clean, callerName, where }
