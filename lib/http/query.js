'use strict'
// What a /debug/handles request asks for: its query string, validated
// strictly (unknown or repeated parameters are a 400, not ignored), and the
// format its Accept header prefers when the query names none.

const FORMATS = ['json', 'text', 'html', 'prometheus']
const QUERY_PARAMETERS = ['format', 'map', 'limit', 'seconds']
const MAX_LIMIT = 1000
const MAX_SECONDS = 60
const MAX_MAP_NAME = 200 // as HandleMap's name option

class BadQuery extends Error {}

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

module.exports = { parseQuery, negotiateFormat, BadQuery, MAX_LIMIT }
