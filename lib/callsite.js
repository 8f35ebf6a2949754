'use strict'
// Capturing the call site of an insert or remove: the measured expensive part
// of handle-ledger (1-5 us, see BENCHMARKS.md), so it captures one structured
// frame, never formats `.stack`, and interns each distinct site once.

const native = require('../binding.js')

const holder = {}
const callSitesOf = (_error, callSites) => callSites

// Site ids per thread (ids are process-wide), by script and then by the
// call's source position: both are what V8 already holds, so a site seen
// before costs no line/column arithmetic and no new string.
const siteIdsByScript = new Map()
let cachedSites = 0
const MAX_CACHED_SITES = 100_000
// Site id -> { site, stack } for reports and onExpire, filled lazily.
const descriptions = new Map()

function captureFrames (limit, below) {
  const savedLimit = Error.stackTraceLimit
  const savedPrepare = Error.prepareStackTrace
  Error.stackTraceLimit = limit
  Error.prepareStackTrace = callSitesOf
  try {
    Error.captureStackTrace(holder, below)
    const frames = holder.stack
    return Array.isArray(frames) ? frames : []
  } finally {
    holder.stack = undefined
    Error.stackTraceLimit = savedLimit
    Error.prepareStackTrace = savedPrepare
  }
}

function frameText (frame) {
  let text
  try {
    text = String(frame)
  } catch {
    text = '<unprintable frame>'
  }
  // Anonymous functions print as a bare location; keep the `fn (location)` shape.
  return text.endsWith(')') ? text : `<anonymous> (${text})`
}

/**
 * The interned site id of the caller of `below` (the public method the user
 * called), capturing `depth` frames the first time a site is seen.
 */
function siteOf (below, depth) {
  const top = captureFrames(1, below)[0]
  if (top === undefined) return internFrames(['<native> (unknown location)'])
  // eval'd and new Function code has no file name: its script hash tells scripts apart.
  const script = top.getFileName() || top.getScriptHash()
  const ids = siteIdsByScript.get(script)
  const position = top.getPosition()
  let id = ids === undefined ? undefined : ids.get(position)
  if (id === undefined) {
    const frames = captureFrames(depth, below)
    id = internFrames(frames.length > 0 ? frames.map(frameText) : [frameText(top)])
    remember(script, position, id)
  }
  return id
}

function remember (script, position, id) {
  if (cachedSites >= MAX_CACHED_SITES) { // code generated without end: start over
    siteIdsByScript.clear()
    cachedSites = 0
  }
  let ids = siteIdsByScript.get(script)
  if (ids === undefined) {
    ids = new Map()
    siteIdsByScript.set(script, ids)
  }
  ids.set(position, id)
  cachedSites++
}

function internFrames (frames) {
  return native.internStack(frames)
}

/** `{ site, stack }` of a site id; `{ site: null, stack: [] }` for 0. */
function describe (id) {
  let description = descriptions.get(id)
  if (description === undefined) {
    const found = id === 0 ? null : native.describeSite(id)
    description = found === null
      ? { site: null, stack: [] }
      : { site: found.site, stack: found.stack }
    descriptions.set(id, description)
  }
  return description
}

module.exports = { siteOf, describe }
