'use strict'
// Text rendering of reports and diffs: one block per map, one line per site,
// readable in a terminal and in a log line (as Go's
// /debug/pprof/goroutine?debug=1 groups goroutines by stack with counts).
//
// A leaf module: it renders the plain report objects it is given and requires
// nothing of lib/ but its sibling verdicts.js (the verdicts' words). So every
// layer may use it, the map included (assertEmpty()'s message, warnings),
// without the map's layer depending on the report layer.

const path = require('node:path')
const { duration, reasonOfRow } = require('./verdicts.js')

/**
 * Where an entry was inserted, as every rendering says it: the site, and
 * the caller (its label) when it is not the site itself. A site in a
 * dependency is the dependency's line; the app's lines are its callers'
 * (`callers`: how many reach it, when a report lists them). `short`
 * shortens each frame (relative paths).
 */
function insertedAt (site, { label = null, inDependency = false, callers = null } = {}, short = text => text) {
  if (typeof site !== 'string') return '(site not recorded)'
  if (inDependency) {
    if (callers !== null) return `${short(site)} (in a dependency, reached from ${callers} app caller${callers === 1 ? '' : 's'})`
    if (typeof label === 'string') return `${short(site)} (in a dependency, from ${short(label)})`
    return `${short(site)} (in a dependency)`
  }
  if (typeof label === 'string' && label !== site) return `${short(site)} from ${short(label)}`
  return short(site)
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
    `  oldest=${duration(map.oldestAgeMs)}${map.threadId ? `  thread=${map.threadId}` : ''}` +
    `${showsMode(map) ? `  callSites=${map.callSites}${approx ? ' (site figures estimated)' : ''}` : ''}${suspect}`
}

function lifetimeText (lifetime) {
  if (!lifetime) return ''
  return `  lifetime p50 ${duration(lifetime.p50Ms)} p99 ${duration(lifetime.p99Ms)} max ${duration(lifetime.maxMs)}`
}

function counts (row, approx) {
  return `${approx}${row.live} live (${approx}${row.inserts} in, ${approx}${row.removes} out` +
    `${row.expired ? `, ${approx}${row.expired} expired` : ''})`
}

/**
 * How many app callers (distinct app lines) a report lists for a site,
 * counting each caller past the listed ones as one; null for none listed.
 */
function callerCount (site) {
  const listed = Array.isArray(site.callers) ? site.callers : []
  const lines = new Set(listed.map(caller => caller.appFrame ?? caller.label))
  const other = site.otherCallers ? site.otherCallers.callers : 0
  return lines.size + other > 0 ? lines.size + other : null
}

/** A site row's line: the site itself (with the count of app callers when it lies in a dependency). */
function siteWhere (site) {
  return clean(insertedAt(site.site, { inDependency: site.inDependency, callers: callerCount(site) }, shortSite))
}

/** A caller row's name: its label (the frame that tells it from the site's other callers). */
function callerName (caller) {
  if (typeof caller.label === 'string') return shortSite(caller.label)
  const stack = Array.isArray(caller.stack) ? caller.stack : []
  return shortSite(stack[1] ?? stack[0] ?? null)
}

/** Caller rows show when there is more than one caller, or when the site is a dependency's (the app's lines are theirs). */
function showsCallers (site) {
  const callers = site.callers || []
  return callers.length >= 2 || Boolean(site.otherCallers) || (callers.length === 1 && Boolean(site.inDependency))
}

function callerLines (site, approx) {
  const callers = site.callers || []
  if (!showsCallers(site)) return []
  const lines = callers.map(caller =>
    `       caller ${clean(callerName(caller))}  ${counts(caller, approx)}  oldest ${duration(caller.oldestAgeMs)}` +
    `${caller.lifetime ? `  p99 ${duration(caller.lifetime.p99Ms)}` : ''}${caller.suspect ? '  SUSPECT' : ''}`)
  const other = site.otherCallers
  if (other) lines.push(`       ... ${other.callers} other callers  ${counts(other, approx)}${other.suspect ? '  SUSPECT' : ''}`)
  return lines
}

function siteLines (site, estimated) {
  const approx = estimated ? '~' : ''
  const lines = [`  ${counts(site, approx)}  oldest ${duration(site.oldestAgeMs)}${lifetimeText(site.lifetime)}  ${siteWhere(site)}` +
    `${site.held ? HELD_MARK : ''}`]
  if (site.suspect) lines.push(`       ${clean(reasonOfRow(site, site.label && shortSite(site.label)))}`)
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
      `${site.expiredDelta ? `, ${signed(site.expiredDelta)} expired` : ''})  now ${site.live} live  ${clean(insertedAt(site.site, site, shortSite))}${site.held ? HELD_MARK : ''}`)
    if (site.suspect) lines.push(`       ${clean(reasonOfRow(site, site.label && shortSite(site.label)))}`)
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
    const title = `handle-ledger diff over ${duration(report.durationMs)}`
    return [title, ...report.maps.map(formatDiffMap)].join('\n\n') + '\n'
  }
  const maps = Array.isArray(report) ? report : Array.isArray(report.maps) ? report.maps : [report]
  if (maps.length === 0) return 'handle-ledger: no maps registered\n'
  return maps.map(formatMap).join('\n\n') + '\n'
}

module.exports = { formatReport, duration, signed, shortSite, clean, callerName, callerCount, showsCallers, insertedAt }
