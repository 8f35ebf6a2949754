'use strict'
// The application's own line in a stack: the first frame outside
// handle-ledger, node_modules and Node's internals. When a map belongs to a
// library (a client's pending-request map swapped for a HandleMap), the insert
// site is the library's line and the app line that caused it is deeper down;
// every rendering shows both ("app.js:21 (via socket.js:236 in a dependency)").

const path = require('node:path')
const callsite = require('./callsite.js')

// Every file of handle-ledger's lib/, whatever its layer folder.
const PACKAGE_LIB = path.join(__dirname, '..', path.sep)
const NODE_MODULES = `${path.sep}node_modules${path.sep}`

function defaultAppFrame (frame) {
  return !frame.includes(NODE_MODULES) && !frame.includes('/node_modules/') &&
    !frame.includes(PACKAGE_LIB) && !/(^|\()(node:|internal\/)/.test(frame) && !frame.includes('<native>') &&
    // Built-ins with no script of their own: "new Promise (<anonymous>)", "Array.map (<anonymous>)".
    !frame.endsWith('(<anonymous>)')
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

/** Adds `stack`, `appFrame` and `inDependency` to every site and caller of map reports. */
function annotateMaps (maps) {
  for (const map of maps) {
    for (const site of map.sites || []) {
      for (const caller of site.callers || []) resolve(caller)
      resolve(site)
    }
  }
  return maps
}

module.exports = { setAppFrame, appFrameOf, annotateMaps }
