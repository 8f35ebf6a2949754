'use strict'
// The /debug/handles request handler: every handle map of the process as
// JSON, text, an HTML page or Prometheus metrics, for node:http, Express and
// (through req.raw/reply.raw) fastify.
//
// Safe to leave mounted: loopback clients naming a loopback Host only unless
// `allow(req)` says otherwise, GET/HEAD only, strict query validation, a
// response bounded in size whatever the number of maps, sites or entries, a
// bounded number of pending ?seconds=N requests each holding a compact
// snapshot, and an exception while building a report becomes a 500 (logged
// once) instead of a crash.
//
// This module is the handler (options, the report and diff bodies, the
// pending ?seconds=N windows, responses); who may read is guard.js, what a
// request asks for query.js, bounding and formats render.js.

const { registry } = require('../report/registry.js')
const { compactSnapshot } = require('../report/snapshot.js')
const prometheus = require('./prometheus.js')
const { sharedHistory } = require('./history.js')
const { loopbackOnly } = require('./guard.js')
const { parseQuery, negotiateFormat, BadQuery, MAX_LIMIT } = require('./query.js')
const { CONTENT_TYPES, PAGE_POLICY, boundData, renderWithin, renderer } = require('./render.js')
const { DEFAULT_PATH, frameworkCall, ownPathHandler, refuseRequestAsOptions, checkPath } = require('./mount.js')
const { checkOptionNames } = require('../shared/options.js')

// Each pending ?seconds=N request holds a snapshot for up to a minute.
const DEFAULT_MAX_DELTAS = 4
const MAX_MAX_DELTAS = 1000
const DEFAULT_LIMIT = 20
const DEFAULT_MAX_BYTES = 2 * 1024 * 1024
const MIN_MAX_BYTES = 16 * 1024
const MAX_MAX_BYTES = 256 * 1024 * 1024
const MAX_OLDEST = 100
const MAX_LOGGED_ERRORS = 100

// ---- options -----------------------------------------------------------

const OPTIONS = new Set(['path', 'allow', 'limit', 'maxBytes', 'sitesPerMap', 'oldest', 'includeKeys', 'maxDeltas', 'onError'])

function integerOption (who, name, value, min, max) {
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new RangeError(`${who} option '${name}' must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}

function functionOption (who, name, value) {
  if (value !== undefined && typeof value !== 'function') throw new TypeError(`${who} option '${name}' must be a function`)
  return value
}

/** The settings of a handler (debugHandles() or a framework mount, `who`), every bad option an error naming it. */
function checkOptions (options, who) {
  refuseRequestAsOptions(options, who)
  options = checkOptionNames(options, who, OPTIONS)
  const { path = DEFAULT_PATH, limit = DEFAULT_LIMIT, maxBytes = DEFAULT_MAX_BYTES, sitesPerMap = prometheus.DEFAULT_SITES_PER_MAP, oldest = 0, includeKeys = false, maxDeltas = DEFAULT_MAX_DELTAS } = options
  if (typeof includeKeys !== 'boolean') throw new TypeError(`${who} option 'includeKeys' must be a boolean`)
  return {
    path: checkPath(path, who),
    allow: functionOption(who, 'allow', options.allow) || loopbackOnly,
    limit: integerOption(who, 'limit', limit, 0, MAX_LIMIT),
    maxBytes: integerOption(who, 'maxBytes', maxBytes, MIN_MAX_BYTES, MAX_MAX_BYTES),
    sitesPerMap: prometheus.checkSitesPerMap(sitesPerMap, `${who} option 'sitesPerMap'`),
    oldest: integerOption(who, 'oldest', oldest, 0, MAX_OLDEST),
    includeKeys,
    maxDeltas: integerOption(who, 'maxDeltas', maxDeltas, 1, MAX_MAX_DELTAS),
    onError: functionOption(who, 'onError', options.onError) || logToStderr
  }
}

// ---- the bodies ---------------------------------------------------------

function siteLimit (format, query, settings) {
  const asked = query.limit === undefined ? settings.limit : query.limit
  // Per-site series are label cardinality: the query can lower the bound, never raise it.
  return format === 'prometheus' ? Math.min(asked, settings.sitesPerMap) : asked
}

function reportBody (format, query, settings, history) {
  const limit = siteLimit(format, query, settings)
  const oldest = format === 'prometheus' ? 0 : settings.oldest
  const report = registry.report({ map: query.map, limit, oldest, includeKeys: settings.includeKeys })
  // Biggest maps first: when the size bound drops maps, it drops the small ones.
  report.maps.sort((a, b) => b.live - a.live)
  return renderWithin(boundData(report, limit), renderer(format, query, settings, history), settings.maxBytes)
}

/** Resolves true after `ms`, or false as soon as the client goes away. */
function waitUnlessClosed (ms, res) {
  return new Promise(resolve => {
    const onClose = () => finish(false)
    const timer = setTimeout(() => finish(true), ms)
    function finish (completed) {
      clearTimeout(timer)
      res.off('close', onClose)
      resolve(completed)
    }
    res.on('close', onClose)
  })
}

/** The diff between now and `query.seconds` later (as Go's pprof ?seconds=N), or null if the client left. */
async function diffBody (format, query, settings, res) {
  // Only the figures diff() reads of the older side are held while waiting.
  const older = compactSnapshot(registry.snapshot({ map: query.map }))
  if (!(await waitUnlessClosed(query.seconds * 1000, res))) return null
  const difference = registry.diff(older, registry.snapshot({ map: query.map }))
  const limit = siteLimit(format, query, settings)
  return renderWithin(boundData(difference, limit), renderer(format, query, settings, null), settings.maxBytes)
}

/**
 * The ?seconds=N requests waiting at once, at most `max`: each holds a
 * snapshot and a connection for up to a minute, so an unbounded number of
 * them would hold unbounded memory.
 */
class DeltaWindows {
  constructor (max) {
    this.max = max
    this.ends = new Set()
  }

  /** A token for a window ending in `seconds`, or null when `max` are open. */
  open (seconds) {
    if (this.ends.size >= this.max) return null
    const token = { end: performance.now() + seconds * 1000 }
    this.ends.add(token)
    return token
  }

  close (token) {
    this.ends.delete(token)
  }

  /** Whole seconds until the first open window ends (at least 1), for Retry-After. */
  retryAfterSeconds () {
    let first = Infinity
    for (const token of this.ends) first = Math.min(first, token.end)
    return Math.max(1, Math.ceil((first - performance.now()) / 1000))
  }
}

async function boundedDiffBody (format, query, settings, res, windows) {
  const window = windows.open(query.seconds)
  if (window === null) {
    const retryAfter = windows.retryAfterSeconds()
    sendError(res, 429, `too many ?seconds=N requests at once (at most ${windows.max}): retry in ${retryAfter} s`, { 'retry-after': String(retryAfter) })
    return null
  }
  try {
    return await diffBody(format, query, settings, res)
  } finally {
    windows.close(window)
  }
}

// ---- responses ---------------------------------------------------------

function send (res, status, contentType, body, extraHeaders = {}) {
  res.statusCode = status
  res.setHeader('content-type', contentType)
  res.setHeader('content-length', Buffer.byteLength(body))
  res.setHeader('cache-control', 'no-store')
  res.setHeader('x-content-type-options', 'nosniff')
  for (const [name, value] of Object.entries(extraHeaders)) res.setHeader(name, value)
  res.end(body) // for HEAD, node sends the headers (content-length included) and drops the body
}

function sendError (res, status, message, extraHeaders) {
  send(res, status, CONTENT_TYPES.json, JSON.stringify({ error: message }) + '\n', extraHeaders)
}

function logToStderr (error) {
  console.error('handle-ledger: /debug/handles could not build a report (each distinct error is logged once):', error)
}

/** Logs each distinct error once, so a failing endpoint scraped every 15 s does not flood the log. */
function onceLogger (onError) {
  const seen = new Set()
  return function logOnce (error) {
    const key = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    if (seen.has(key) || seen.size >= MAX_LOGGED_ERRORS) return
    seen.add(key)
    try {
      onError(error)
    } catch {
      // A throwing logger must not turn a 500 into a crash.
    }
  }
}

function answerInternalError (res, error, logOnce) {
  logOnce(error)
  try {
    if (res.headersSent) res.destroy()
    else sendError(res, 500, 'internal error while building the report (logged on the server)')
  } catch {
    res.destroy() // the connection is unusable; the server goes on
  }
}

async function serve (req, res, settings, history, windows) {
  if (await settings.allow(req) !== true) {
    return sendError(res, 403, 'forbidden: /debug/handles answers loopback clients only (a loopback peer, no proxy headers, a loopback Host) unless its allow(req) option says otherwise')
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(res, 405, `method ${req.method} not allowed: use GET or HEAD`, { allow: 'GET, HEAD' })
  }
  let query
  try {
    query = parseQuery(req.url || '/')
  } catch (error) {
    if (error instanceof BadQuery) return sendError(res, 400, `bad query: ${error.message}`)
    throw error
  }
  const negotiated = query.format === undefined
  const format = negotiated ? negotiateFormat(req.headers.accept) : query.format
  const body = query.seconds === undefined
    ? reportBody(format, query, settings, history)
    : await boundedDiffBody(format, query, settings, res, windows)
  if (body === null) return // refused (429), or the client left during ?seconds=N
  const headers = format === 'html' ? { 'content-security-policy': PAGE_POLICY, 'referrer-policy': 'no-referrer' } : {}
  if (negotiated) headers.vary = 'Accept'
  send(res, 200, CONTENT_TYPES[format], body, headers)
}

/**
 * Answers every request it is given, `(req, res) => Promise<void>` (the
 * promise never rejects): what the framework mounts route to.
 */
function createResponder (settings) {
  const history = sharedHistory()
  const logOnce = onceLogger(settings.onError)
  const windows = new DeltaWindows(settings.maxDeltas)
  return function respond (req, res) {
    return serve(req, res, settings, history, windows).catch(error => answerInternalError(res, error, logOnce))
  }
}

function notFound (path) {
  return res => sendError(res, 404, `not found: this handler answers ${path}`)
}

// What a factory mounted without being called (`app.use(debugHandles)`)
// answers with: the handler of no options, made once.
let defaultHandler = null

/** Runs `args` (a framework's call of a factory) through the default handler. */
function answerAsDefault (args) {
  if (defaultHandler === null) defaultHandler = debugHandles()
  return defaultHandler(...args)
}

/**
 * The /debug/handles handler: `(req, res[, next]) => Promise<void>` (the
 * promise never rejects), for node:http, Express/connect, Koa (ctx, next) and
 * Fastify routes. Mounted without a path, it answers `path` only (default
 * /debug/handles) and passes other requests on (next(), or a 404); routed to
 * by path, it answers what it gets. Options: `path`, `allow(req)` (default: loopback clients only),
 * `limit` (sites per map, default 20), `maxBytes` (response bound, default
 * 2 MiB), `sitesPerMap` (Prometheus site series per map, default 10),
 * `oldest` and `includeKeys` (the oldest entries of each map, their keys only
 * when asked), `maxDeltas` (?seconds=N requests waiting at once, default 4;
 * beyond it a 429 with Retry-After), `onError(error)` (default: stderr, once
 * per distinct error).
 */
function debugHandles (options) {
  // app.use(debugHandles), not called: the framework is calling the factory with a request.
  if (frameworkCall(...arguments) !== null) return answerAsDefault(arguments)
  const settings = checkOptions(options, 'debugHandles')
  return ownPathHandler(createResponder(settings), settings.path, notFound(settings.path))
}

// For allow() rules that extend the default: `allow: req => debugHandles.loopbackOnly(req) || hasToken(req)`.
debugHandles.loopbackOnly = loopbackOnly

module.exports = { debugHandles, loopbackOnly, checkOptions, createResponder, answerAsDefault }
