'use strict'
// What a report says, reduced to lines: which lines does it name as suspect,
// and is the line a developer fixes among them.

const fs = require('node:fs')
const path = require('node:path')

const FIX_MARKER = '// zoo:fix'

/** `file.js:12` of the one line of `file` marked `// zoo:fix`, or null when none is. */
function fixLineOf (file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const marked = lines.flatMap((line, i) => (line.includes(FIX_MARKER) ? [i + 1] : []))
  if (marked.length > 1) throw new Error(`${file}: ${marked.length} lines marked ${FIX_MARKER}, expected one`)
  return marked.length === 1 ? `${path.basename(file)}:${marked[0]}` : null
}

/** `file.js:12` of a frame (`fn (/path/file.js:12:5)`, `/path/file.js:12:5`, `file.js:12`), else the frame itself. */
function lineKey (frame) {
  if (typeof frame !== 'string') return String(frame)
  const match = /([^\s()/\\:]+):(\d+)(?::\d+)?\)?$/.exec(frame)
  return match ? `${match[1]}:${match[2]}` : frame
}

/**
 * The line the report names for a suspect row: the caller row's `label` when
 * the report has one; else what the text report shows for the row (a caller:
 * the app's line when the site is in a dependency, else the frame that called
 * the site; a site: its app line when in a dependency, else the site).
 */
function namedLine (site, caller) {
  if (caller) {
    if (caller.label) return caller.label
    if (caller.inDependency && caller.appFrame) return caller.appFrame
    return caller.stack[1] ?? caller.stack[0] ?? null
  }
  // A site row leads with its insert line; one inside a dependency, with the
  // app's line that reaches it.
  if (site.inDependency) return site.label ?? site.appFrame ?? site.site
  return site.site
}

/**
 * The suspect rows of a registry report: a suspect site shown with caller
 * rows (two or more) names each suspect caller; a suspect site with one
 * caller, or none of whose callers is suspect, names itself.
 * Returns [{ map, line, frame, reason }].
 */
function suspectRows (report) {
  const rows = []
  for (const map of report.maps) {
    for (const site of map.sites) {
      const callers = (site.callers ?? []).filter(caller => caller.suspect)
      // Callers that all read alike are one app caller, told apart only
      // outside the app's code (Node's internals): the site's line names it.
      const labels = new Set((site.callers ?? []).map(caller => caller.label ?? caller.stack[1]))
      const shownCallers = ((site.callers ?? []).length >= 2 && labels.size >= 2) || Boolean(site.otherCallers)
      if (shownCallers && callers.length > 0) {
        for (const caller of callers) rows.push(row(map, namedLine(site, caller), caller.reason ?? site.reason))
      } else if (site.suspect) {
        rows.push(row(map, namedLine(site, null), site.reason))
      }
    }
  }
  return rows
}

function row (map, frame, reason) {
  return { map: map.name, line: lineKey(frame), frame, reason }
}

module.exports = { FIX_MARKER, fixLineOf, lineKey, namedLine, suspectRows }
