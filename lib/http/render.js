'use strict'
// The bodies of /debug/handles: a report or diff bounded in size (every
// string capped, then sites, oldest entries and maps dropped until it fits)
// and rendered as JSON, text, HTML or Prometheus metrics.

const { formatReport } = require('../shared/format.js')
const { renderReportPage, renderDiffPage, PAGE_POLICY } = require('./html.js')
const prometheus = require('./prometheus.js')

// One site, frame or key in a response: beyond this it is truncated, so a
// huge eval'd file name cannot make a report large.
const MAX_TEXT = 1000
const MAX_FRAMES = 64
const MAX_REMOVE_SITES = 10

const CONTENT_TYPES = {
  json: 'application/json; charset=utf-8',
  text: 'text/plain; charset=utf-8',
  html: 'text/html; charset=utf-8',
  prometheus: prometheus.CONTENT_TYPE
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

module.exports = { CONTENT_TYPES, PAGE_POLICY, boundData, renderWithin, renderer }
