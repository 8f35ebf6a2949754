'use strict'
// Capturing the stack of an insert or remove: the measured expensive part of
// handle-ledger (1-5 us, see BENCHMARKS.md), so it reads structured frames,
// never formats `.stack`, and interns each distinct stack once.

const native = require('../../binding.js')

const holder = {}
const callSitesOf = (_error, callSites) => callSites

// Stack ids per thread (ids are process-wide), in a trie keyed frame by frame
// by script and source position: both are what V8 already holds, so a stack
// seen before costs no line/column arithmetic, no new string and no native
// call. The leaking caller of a shared helper differs from the clean ones only
// below the top frame, so every capture reads the whole stack (stackDepth
// frames cost about 1.35x one frame).
let stackIds = new Map()
let cachedStacks = 0
const MAX_CACHED_STACKS = 100_000
// Stack id -> { site, stack } for reports and onExpire, filled lazily.
const descriptions = new Map()
// Site text -> ids of the stacks this thread interned through it: what tells
// one caller of a site from its siblings when no report lists them.
const stacksBySite = new Map()
const MAX_STACKS_PER_SITE = 64

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
 * The interned stack id of the caller of `below` (the public method the user
 * called): up to `depth` frames, innermost first.
 */
function siteOf (below, depth) {
  const frames = captureFrames(depth, below)
  if (frames.length === 0) return internFrames(['<native> (unknown location)'])
  let level = stackIds
  let node
  for (let i = 0; i < frames.length; i++) {
    if (level === null) level = node.next = new Map()
    const frame = frames[i]
    // eval'd and new Function code has no file name: its script hash tells scripts apart.
    const script = frame.getFileName() || frame.getScriptHash()
    let positions = level.get(script)
    if (positions === undefined) {
      positions = new Map()
      level.set(script, positions)
    }
    const position = frame.getPosition()
    node = positions.get(position)
    if (node === undefined) {
      node = { id: 0, next: null }
      positions.set(position, node)
      cachedStacks++
    }
    level = node.next
  }
  if (node.id === 0) node.id = intern(frames)
  return node.id
}

function intern (frames) {
  const texts = frames.map(frameText)
  const id = internFrames(texts)
  rememberAtSite(texts[0], id)
  if (cachedStacks >= MAX_CACHED_STACKS) { // code generated without end: start over
    stackIds = new Map()
    cachedStacks = 0
  }
  return id
}

function internFrames (frames) {
  return native.internStack(frames)
}

function rememberAtSite (site, id) {
  let ids = stacksBySite.get(site)
  if (ids === undefined) {
    if (stacksBySite.size >= MAX_CACHED_STACKS) stacksBySite.clear()
    ids = []
    stacksBySite.set(site, ids)
  }
  if (ids.length < MAX_STACKS_PER_SITE && !ids.includes(id)) ids.push(id)
}

/** The frames of every stack this thread has seen through `site` (a site text). */
function stacksAt (site) {
  const ids = stacksBySite.get(site)
  return ids === undefined ? [] : ids.map(id => describeStack(id).stack)
}

/** `{ site, stack }` of a stack id; `{ site: null, stack: [] }` for 0. */
function describeStack (id) {
  let description = descriptions.get(id)
  if (description === undefined) {
    const found = id === 0 ? null : native.describeSite(id)
    // Frozen: every report and entry shares these frames.
    description = found === null
      ? { site: null, stack: Object.freeze([]) }
      : { site: found.site, stack: Object.freeze(found.stack) }
    descriptions.set(id, description)
  }
  return description
}

module.exports = { siteOf, describeStack, stacksAt }
