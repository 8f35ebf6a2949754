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

const { registry } = require('../report/registry.js')
const { compactSnapshot } = require('../report/snapshot.js')
const { formatReport } = require('../shared/format.js')
const { renderReportPage, renderDiffPage } = require('./html.js')
const prometheus = require('./prometheus.js')
const { sharedHistory } = require('./history.js')

const FORMATS = ['json', 'text', 'html', 'prometheus']
const QUERY_PARAMETERS = ['format', 'map', 'limit', 'seconds']
const MAX_LIMIT = 1000
const MAX_SECONDS = 60
// Each pending ?seconds=N request holds a snapshot for up to a minute.
const DEFAULT_MAX_DELTAS = 4
const MAX_MAX_DELTAS = 1000
const MAX_MAP_NAME = 200 // as HandleMap's name option
const DEFAULT_LIMIT = 20
const DEFAULT_MAX_BYTES = 2 * 1024 * 1024
const MIN_MAX_BYTES = 16 * 1024
const MAX_MAX_BYTES = 256 * 1024 * 1024
const MAX_OLDEST = 100
// One site, frame or key in a response: beyond this it is truncated, so a
// huge eval'd file name cannot make a report large.
const MAX_TEXT = 1000
const MAX_FRAMES = 64
const MAX_REMOVE_SITES = 10
const MAX_LOGGED_ERRORS = 100

const CONTENT_TYPES = {
  json: 'application/json; charset=utf-8',
  text: 'text/plain; charset=utf-8',
  html: 'text/html; charset=utf-8',
  prometheus: prometheus.CONTENT_TYPE
}
// The page has no script and loads nothing: a policy that forbids both makes
// any markup that slipped past escaping inert.
const PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

class BadQuery extends Error {}

// ---- options -----------------------------------------------------------

const OPTIONS = ['allow', 'limit', 'maxBytes', 'sitesPerMap', 'oldest', 'includeKeys', 'maxDeltas', 'onError']

function integerOption (name, value, min, max) {
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new RangeError(`debugHandles option '${name}' must be an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}

function functionOption (name, value) {
  if (value !== undefined && typeof value !== 'function') throw new TypeError(`debugHandles option '${name}' must be a function`)
  return value
}

function checkOptions (options = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('debugHandles options must be an object')
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key)) throw new TypeError(`debugHandles has no option '${key}' (known: ${OPTIONS.join(', ')})`)
  }
  const { limit = DEFAULT_LIMIT, maxBytes = DEFAULT_MAX_BYTES, sitesPerMap = prometheus.DEFAULT_SITES_PER_MAP, oldest = 0, includeKeys = false, maxDeltas = DEFAULT_MAX_DELTAS } = options
  if (typeof includeKeys !== 'boolean') throw new TypeError('debugHandles option \'includeKeys\' must be a boolean')
  return {
    allow: functionOption('allow', options.allow) || loopbackOnly,
    limit: integerOption('limit', limit, 0, MAX_LIMIT),
    maxBytes: integerOption('maxBytes', maxBytes, MIN_MAX_BYTES, MAX_MAX_BYTES),
    sitesPerMap: prometheus.checkSitesPerMap(sitesPerMap, 'debugHandles option \'sitesPerMap\''),
    oldest: integerOption('oldest', oldest, 0, MAX_OLDEST),
    includeKeys,
    maxDeltas: integerOption('maxDeltas', maxDeltas, 1, MAX_MAX_DELTAS),
    onError: functionOption('onError', options.onError) || logToStderr
  }
}

// ---- the guard ---------------------------------------------------------

const IPV4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
const LOOPBACK_IPV4 = new RegExp(`^127(?:\\.${IPV4_OCTET}){3}$`)

function isLoopbackAddress (address) {
  if (typeof address !== 'string') return false
  if (address === '::1' || address === '0:0:0:0:0:0:0:1') return true
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address
  return LOOPBACK_IPV4.test(v4)
}

// `localhost` and names under it (RFC 6761: they never leave the machine),
// with at most one trailing dot.
const LOOPBACK_NAME = /^(?:[a-z0-9-]+\.)*localhost\.?$/

/**
 * Whether a Host header names this machine: a loopback name or address, with
 * any port. A page served from another origin that reached a loopback server
 * through DNS rebinding still sends its own host name, and is refused.
 */
function isLoopbackHost (host) {
  if (typeof host !== 'string') return false
  const bracketed = /^\[([^\]]*)\](?::[0-9]*)?$/.exec(host)
  if (bracketed !== null) return isLoopbackAddress(bracketed[1])
  const name = /^([^:]*)(?::[0-9]*)?$/.exec(host)
  if (name === null) return false
  const lower = name[1].toLowerCase()
  return LOOPBACK_NAME.test(lower) || isLoopbackAddress(lower)
}

/**
 * The default rule: the peer is on loopback, no proxy relayed the request
 * (a reverse proxy on the same host connects over loopback on behalf of
 * remote clients; the forwarding headers it adds give it away), and the
 * request names this machine in its Host (HTTP/2: :authority), so a
 * browser page that reached the server through DNS rebinding is refused.
 */
function loopbackOnly (req) {
  const socket = req.socket || req.connection
  if (!socket || !isLoopbackAddress(socket.remoteAddress)) return false
  const headers = req.headers || {}
  if (headers.forwarded !== undefined || headers['x-forwarded-for'] !== undefined || headers['x-real-ip'] !== undefined) return false
  return isLoopbackHost(headers.host !== undefined ? headers.host : headers[':authority'])
}

// ---- the query ---------------------------------------------------------

function quote (value) {
  return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value)
}

function positiveInteger (name, value, max) {
  if (!/^[1-9][0-9]*$/.test(value) || Number(value) > max) {
    throw new BadQuery(`'${name}' must be an integer from 1 to ${max}, got ${quote(value)}`)
  }
  return Number(value)
}

/** `{ format?, map?, limit?, seconds? }` of a request URL; BadQuery when invalid. */
function parseQuery (url) {
  const at = url.indexOf('?')
  const params = new URLSearchParams(at === -1 ? '' : url.slice(at + 1))
  const seen = new Set()
  for (const name of params.keys()) {
    if (!QUERY_PARAMETERS.includes(name)) throw new BadQuery(`unknown query parameter ${quote(name)} (known: ${QUERY_PARAMETERS.join(', ')})`)
    if (seen.has(name)) throw new BadQuery(`query parameter '${name}' given more than once`)
    seen.add(name)
  }
  const query = {}
  if (params.has('format')) {
    query.format = params.get('format')
    if (!FORMATS.includes(query.format)) throw new BadQuery(`unknown format ${quote(query.format)} (known: ${FORMATS.join(', ')})`)
  }
  if (params.has('map')) {
    query.map = params.get('map')
    if (query.map.length === 0 || query.map.length > MAX_MAP_NAME) throw new BadQuery(`'map' must be a map name of 1 to ${MAX_MAP_NAME} characters`)
  }
  if (params.has('limit')) query.limit = positiveInteger('limit', params.get('limit'), MAX_LIMIT)
  if (params.has('seconds')) query.seconds = positiveInteger('seconds', params.get('seconds'), MAX_SECONDS)
  if (query.format === 'prometheus' && query.seconds !== undefined) {
    throw new BadQuery('\'seconds\' does not apply to format=prometheus (Prometheus computes deltas itself: use rate() or delta())')
  }
  return query
}

// Media types that name a format; */*, text/* and the rest express no preference.
function formatOfMediaType (type, versioned) {
  if (type === 'application/json') return 'json'
  if (type === 'text/html' || type === 'application/xhtml+xml') return 'html'
  if (type === 'application/openmetrics-text') return 'prometheus'
  if (type === 'text/plain') return versioned ? 'prometheus' : 'text' // Prometheus asks for text/plain;version=0.0.4
  return null
}

/** The format an Accept header prefers: html for browsers, json for API clients, text otherwise (curl). */
function negotiateFormat (accept) {
  if (typeof accept !== 'string') return 'text'
  let chosen = 'text'
  let chosenQuality = 0
  for (const range of accept.split(',')) {
    const [type, ...parameters] = range.split(';').map(part => part.trim().toLowerCase())
    let quality = 1
    let versioned = false
    for (const parameter of parameters) {
      const [name, value = ''] = parameter.split('=').map(part => part.trim())
      if (name === 'q') quality = Number(value)
      if (name === 'version') versioned = true
    }
    const format = formatOfMediaType(type, versioned)
    if (format !== null && quality > chosenQuality) {
      chosen = format
      chosenQuality = quality
    }
  }
  return chosen
}

// ---- bounding the response ---------------------------------------------

function capText (text) {
  return typeof text === 'string' && text.length > MAX_TEXT ? text.slice(0, MAX_TEXT - 3) + '...' : text
}

function boundSite (site) {
  const bounded = { ...site, site: capText(site.site) }
  if (Array.isArray(site.stack)) bounded.stack = site.stack.slice(0, MAX_FRAMES).map(capText)
  if (Array.isArray(site.removedAt)) bounded.removedAt = site.removedAt.slice(0, MAX_REMOVE_SITES).map(remove => ({ ...remove, site: capText(remove.site) }))
  return bounded
}

function keepSites (map, count) {
  if (map.sites.length <= count) return map
  return { ...map, sites: map.sites.slice(0, count), sitesOmitted: (map.sitesOmitted || 0) + map.sites.length - count }
}

/** Caps every string and each map's site list (reports and diffs alike). */
function boundData (data, siteLimit) {
  const maps = data.maps.map(map => {
    const bounded = keepSites({ ...map, sites: map.sites.map(boundSite) }, siteLimit)
    if (Array.isArray(map.oldestEntries)) {
      bounded.oldestEntries = map.oldestEntries.map(entry => ({ ...entry, site: capText(entry.site), ...(entry.key === undefined ? {} : { key: capText(entry.key) }) }))
    }
    return bounded
  })
  return { ...data, maps }
}

/** A smaller version of `data` (half the sites, then no oldest entries, then half the maps), or null. */
function shrink (data) {
  const mostSites = data.maps.reduce((most, map) => Math.max(most, map.sites.length), 0)
  if (mostSites > 0) {
    const keep = Math.floor(mostSites / 2)
    return { ...data, truncated: true, maps: data.maps.map(map => keepSites(map, keep)) }
  }
  if (data.maps.some(map => Array.isArray(map.oldestEntries) && map.oldestEntries.length > 0)) {
    return { ...data, truncated: true, maps: data.maps.map(map => ({ ...map, oldestEntries: [] })) }
  }
  if (data.maps.length > 1) {
    const keep = Math.ceil(data.maps.length / 2)
    return { ...data, truncated: true, mapsOmitted: (data.mapsOmitted || 0) + data.maps.length - keep, maps: data.maps.slice(0, keep) }
  }
  return null
}

/** Renders `data`, shrinking it until the body fits in `maxBytes` (or nothing is left to drop). */
function renderWithin (data, render, maxBytes) {
  let current = data
  let body = render(current)
  while (Buffer.byteLength(body) > maxBytes) {
    const smaller = shrink(current)
    if (smaller === null) break
    current = smaller
    body = render(current)
  }
  return body
}

// ---- rendering ---------------------------------------------------------

function textNotes (data) {
  const notes = []
  if (data.mapsOmitted > 0) notes.push(`... ${data.mapsOmitted} more maps not shown (response bounded in size; use ?map=NAME)`)
  if (data.truncated) notes.push('(some sites were left out to keep the response bounded in size)')
  return notes.length === 0 ? '' : '\n' + notes.join('\n') + '\n'
}

function renderer (format, query, settings, history) {
  switch (format) {
    case 'json': return data => JSON.stringify(data) + '\n'
    case 'text': return data => formatReport(data) + textNotes(data)
    case 'prometheus': return data => prometheus.renderMetrics(data, { sitesPerMap: settings.sitesPerMap, map: query.map })
    case 'html': return data => data.kind === 'diff'
      ? renderDiffPage(data, { query })
      : renderReportPage(data, { history, query })
  }
  throw new Error(`no renderer for format ${format}`)
}

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
 * The /debug/handles handler: `(req, res) => Promise<void>` (the promise
 * never rejects). Options: `allow(req)` (default: loopback clients only),
 * `limit` (sites per map, default 20), `maxBytes` (response bound, default
 * 2 MiB), `sitesPerMap` (Prometheus site series per map, default 10),
 * `oldest` and `includeKeys` (the oldest entries of each map, their keys only
 * when asked), `maxDeltas` (?seconds=N requests waiting at once, default 4;
 * beyond it a 429 with Retry-After), `onError(error)` (default: stderr, once
 * per distinct error).
 */
function debugHandles (options) {
  const settings = checkOptions(options)
  const history = sharedHistory()
  const logOnce = onceLogger(settings.onError)
  const windows = new DeltaWindows(settings.maxDeltas)
  return function handleDebugHandles (req, res) {
    return serve(req, res, settings, history, windows).catch(error => answerInternalError(res, error, logOnce))
  }
}

// For allow() rules that extend the default: `allow: req => debugHandles.loopbackOnly(req) || hasToken(req)`.
debugHandles.loopbackOnly = loopbackOnly

module.exports = { debugHandles, loopbackOnly, isLoopbackAddress, isLoopbackHost, negotiateFormat, parseQuery, BadQuery }
