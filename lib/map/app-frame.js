'use strict'
// The application's own line in a stack: the first frame outside
// handle-ledger, node_modules and Node's internals. When a map belongs to a
// library (a client's pending-request map swapped for a HandleMap), the insert
// site is the library's line and the app line that caused it is deeper down.
//
// And each caller's label: the frame that tells a stack apart from the other
// stacks through the same site (pprof's "focus"), so two callers of one
// helper read "getOrder (routes/orders.js:4:29)" and "getUser (...)", not
// "new Promise (<anonymous>)" twice.

const path = require('node:path')
const callsite = require('./callsite.js')
const { reasonOfRow } = require('../shared/verdicts.js')

// Every file of handle-ledger's lib/, whatever its layer folder.
const PACKAGE_LIB = path.join(__dirname, '..', path.sep)
const NODE_MODULES = `${path.sep}node_modules${path.sep}`

function defaultAppFrame (frame) {
  return !frame.includes(NODE_MODULES) && !frame.includes('/node_modules/') &&
    !frame.includes(PACKAGE_LIB) && !/(^|\()(node:|internal\/)/.test(frame) && !frame.includes('<native>') &&
    // Built-ins with no script of their own: "new Promise (<anonymous>)", "Array.map (<anonymous>)",
    // and the async frames of combinators ("async Promise.all (index 0)").
    !frame.endsWith('(<anonymous>)') && !/\(index \d+\)$/.test(frame)
}

let isAppFrame = defaultAppFrame
// Stack id -> { appFrame, inDependency }: each stack is judged once per predicate.
const byStack = new Map()
const MAX_CACHED = 100_000

/**
 * Sets which frames are the application's: `appFrame(frameText) => boolean`,
 * or `{ ignore: [string | RegExp] }` (frames matching any pattern are not the
 * app's, in addition to the defaults), or null for the defaults.
 */
function setAppFrame (option) {
  byStack.clear()
  if (option === null || option === undefined) {
    isAppFrame = defaultAppFrame
  } else if (typeof option === 'function') {
    isAppFrame = frame => {
      try {
        return option(frame) === true
      } catch {
        return false
      }
    }
  } else if (typeof option === 'object' && Array.isArray(option.ignore)) {
    const patterns = option.ignore.map((pattern, i) => {
      if (typeof pattern === 'string') return frame => frame.includes(pattern)
      if (pattern instanceof RegExp) return frame => pattern.test(frame)
      throw new TypeError(`setAppFrame: ignore[${i}] must be a string or a RegExp`)
    })
    isAppFrame = frame => defaultAppFrame(frame) && !patterns.some(matches => matches(frame))
  } else {
    throw new TypeError('setAppFrame(option): expected a function (frame) => boolean, { ignore: [string | RegExp] } or null')
  }
}

/** `{ appFrame, inDependency }` of a stack (innermost frame first). */
function appFrameOf (stack) {
  if (!Array.isArray(stack) || stack.length === 0) return { appFrame: null, inDependency: false }
  const appFrame = stack.find(frame => typeof frame === 'string' && isAppFrame(frame)) ?? null
  return { appFrame, inDependency: !isAppFrame(stack[0]) }
}

function sameFrames (a, b) {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((frame, i) => frame === b[i])
}

function isFrameText (frame) {
  return typeof frame === 'string'
}

/** How far two lists agree from their start. */
function sharedLength (a, b) {
  let shared = 0
  while (shared < a.length && shared < b.length && a[shared] === b[shared]) shared++
  return shared
}

function firstAppFrame (stack, from) {
  for (let i = from; i < stack.length; i++) if (isAppFrame(stack[i])) return stack[i]
  return null
}

// The app frame nearest above `before`, below the site.
function lastAppFrame (stack, before) {
  for (let i = Math.min(before, stack.length) - 1; i >= 1; i--) if (isAppFrame(stack[i])) return stack[i]
  return null
}

/** Where `stack` first parts from any of `siblings` (1 when it parts from none). */
function partingOf (stack, siblings) {
  let parting = stack.length
  for (const other of siblings) {
    if (other === stack || !Array.isArray(other) || sameFrames(other, stack)) continue
    parting = Math.min(parting, Math.max(1, sharedLength(stack, other)))
  }
  return parting === stack.length ? 1 : parting
}

/**
 * The frame that names `stack` among `siblings` (other stacks through the
 * same site, innermost frame first): the first app frame at or below the
 * first frame where it parts from any sibling (built-ins such as "new
 * Promise", async combinators, Node's internals and dependencies are
 * skipped); when the stacks part only outside the app's code, the app frame
 * nearest above that point; without any app frame, the frame where it parts.
 */
function callerLabel (stack, siblings = []) {
  if (!Array.isArray(stack) || stack.length === 0 || !stack.every(isFrameText)) return null
  const parting = partingOf(stack, siblings)
  return firstAppFrame(stack, parting) ?? lastAppFrame(stack, parting) ?? stack[parting] ?? stack[1] ?? stack[0]
}

/**
 * Labels of a site's listed callers (`stacks`), told apart from each other
 * and from `others` (more stacks through the site): callerLabel(), and
 * where two callers would read alike (one function reached from two
 * routes), "label via <the app frame where those two part>".
 */
function callerLabels (stacks, others = []) {
  const all = [...stacks, ...others]
  const labels = stacks.map(stack => callerLabel(stack, all))
  return labels.map((label, i) => {
    const alike = stacks.filter((other, j) => j !== i && labels[j] === label && !sameFrames(other, stacks[i]))
    if (label === null || alike.length === 0) return label
    const stack = stacks[i]
    const parting = Math.max(...alike.map(other => sharedLength(stack, other)))
    const deeper = firstAppFrame(stack, parting) ?? stack[parting]
    return deeper && deeper !== label ? `${label} via ${deeper}` : label
  })
}

/**
 * A stack's label among the stacks this thread has seen through its site
 * (an expired entry's warning): null when no other stack went through it
 * and the site is the app's own line (the site then names it).
 */
function labelOf (stack) {
  if (!Array.isArray(stack) || stack.length === 0) return null
  const siblings = callsite.stacksAt(stack[0])
  const parted = siblings.some(other => !sameFrames(other, stack))
  return parted || !isAppFrame(stack[0]) ? callerLabel(stack, siblings) : null
}

function appFrameOfStack (id, stack) {
  let found = byStack.get(id)
  if (found === undefined) {
    if (byStack.size >= MAX_CACHED) byStack.clear()
    found = appFrameOf(stack)
    byStack.set(id, found)
  }
  return found
}

// The native report names stacks by id; their frames are made into strings
// once per thread (callsite.describe) and shared, frozen, by every report.
function resolve (row) {
  const stack = callsite.describeStack(row.stackId).stack
  row.stack = stack
  const { appFrame, inDependency } = appFrameOfStack(row.stackId, stack)
  row.appFrame = appFrame
  row.inDependency = inDependency
}

/**
 * The caller a whole site's row may name (where one line stands for the
 * site: diffs, leakCheck): its suspect caller when its verdict is a
 * caller's; the one app line that reaches a dependency's line. Never one caller of
 * several that are alike: that would credit the others' entries to it.
 */
function siteLabel (site, siblings) {
  if (site.verdict && site.verdict.scope === 'caller') return site.callers?.[0]?.label ?? callerLabel(site.stack, siblings)
  if (!site.inDependency || site.appFrame === null) return null
  const alone = siblings.every(stack => appFrameOf(stack).appFrame === site.appFrame)
  return alone ? site.appFrame : null
}

/**
 * Adds `stack`, `appFrame`, `inDependency`, `label` and `reason` (the
 * verdict in words) to every site and caller of map reports. A caller's
 * label tells it from the site's other callers (those listed and those this
 * thread has seen); a site's, see siteLabel().
 */
function annotateMaps (maps) {
  for (const map of maps) {
    for (const site of map.sites || []) {
      const callers = site.callers || []
      for (const caller of callers) resolve(caller)
      resolve(site)
      const known = callsite.stacksAt(site.site)
      const labels = callerLabels(callers.map(caller => caller.stack), known)
      callers.forEach((caller, i) => {
        caller.label = labels[i]
        caller.reason = reasonOfRow(caller)
      })
      const siblings = [...callers.map(caller => caller.stack), ...known]
      site.label = siteLabel(site, siblings)
      site.reason = reasonOfRow(site, site.label)
    }
  }
  return maps
}

module.exports = { setAppFrame, appFrameOf, annotateMaps, callerLabel, callerLabels, labelOf }
