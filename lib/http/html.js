'use strict'
// The /debug/handles page: one self-contained HTML document (inline CSS and
// SVG, no script, nothing fetched), one section per map with its live count,
// a chart of its live entries over the last minutes, and its sites sorted by
// live count with suspects marked; a site's stack opens on click
// (<details>, so the page needs no JavaScript at all).
//
// Every field of a report goes through escapeHtml(), in text and in
// attributes alike: names, sites, stacks, reasons and keys are user data, and
// the CLI renders saved files that anyone may have written (it checks them
// against the schema first; escaping does not rely on that). The document
// carries its Content-Security-Policy, so a page written to a file is as
// inert as the route's, should markup ever slip past escaping.

const { duration, signed, shortSite, callerName, callerCount, showsCallers, insertedAt } = require('../shared/format.js')
const { reasonOfRow } = require('../shared/verdicts.js')

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

function escapeHtml (value) {
  return String(value).replace(/[&<>"']/g, character => ESCAPES[character])
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #667085; --line: #d0d7de; --bg: #fff; --card: #f6f8fa;
  --bad: #b42318; --bad-bg: #fef3f2; --ok: #067647; --chart: #2f6feb; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8b949e; --line: #30363d; --bg: #0d1117;
  --card: #161b22; --bad: #ff7b72; --bad-bg: #3d1d1d; --ok: #3fb950; --chart: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 0; word-break: break-all; }
a { color: var(--chart); } .muted { color: var(--muted); } code, pre, .site-text { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
nav a { margin-right: 10px; } .note { padding: 6px 10px; background: var(--card); border-left: 3px solid var(--muted); margin: 8px 0; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
section.map { margin-top: 18px; padding: 12px 14px; border: 1px solid var(--line); border-radius: 8px; background: var(--card); }
section.map.has-suspects { border-color: var(--bad); }
.map-head { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; justify-content: space-between; }
.live-count { font-size: 28px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.1; }
.stats span { margin-right: 12px; white-space: nowrap; } .badge { display: inline-block; font-size: 11px; font-weight: 700; padding: 1px 6px; border-radius: 10px; vertical-align: middle; }
.badge.suspect { color: #fff; background: var(--bad); } .badge.plain { border: 1px solid var(--line); color: var(--muted); font-weight: 500; }
figure.chart { margin: 0; } figure.chart svg { display: block; width: 320px; height: 64px; } figcaption { font-size: 12px; color: var(--muted); }
tr.suspect td { background: var(--bad-bg); } tr.suspect .status { color: var(--bad); font-weight: 700; } .status { white-space: nowrap; }
.reason { color: var(--bad); font-size: 12px; } details summary { cursor: pointer; } details pre { margin: 6px 0 2px; padding: 6px 8px; background: var(--bg); border: 1px solid var(--line); border-radius: 4px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
table.summary { margin: 10px 0 4px; max-width: 900px; } .site-text { word-break: break-all; }
tr.caller td { font-size: 12px; border-bottom-style: dashed; } tr.caller td.status { padding-left: 18px; } .lifetime { white-space: nowrap; font-size: 12px; }
`

/** The query string of a link, keeping the page's map and limit. */
function link (query, extra) {
  const params = new URLSearchParams()
  if (query.map !== undefined) params.set('map', query.map)
  if (query.limit !== undefined) params.set('limit', String(query.limit))
  for (const [name, value] of Object.entries(extra)) params.set(name, String(value))
  return escapeHtml(`?${params}`)
}

function navigation (query) {
  return `<nav><a href="${link(query, { format: 'html' })}">page</a>` +
    `<a href="${link(query, { format: 'html', seconds: 10 })}">what changed in 10 s</a>` +
    `<a href="${link(query, { format: 'json' })}">json</a>` +
    `<a href="${link(query, { format: 'text' })}">text</a>` +
    `<a href="${link(query, { format: 'prometheus' })}">prometheus</a></nav>`
}

// The page has no script and loads nothing: a policy that forbids both.
// A <meta> policy cannot say frame-ancestors; the route adds it in its header.
const DOCUMENT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
const PAGE_POLICY = `${DOCUMENT_POLICY}; frame-ancestors 'none'`

function htmlDocument (title, body) {
  return '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(DOCUMENT_POLICY)}">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>\n<body>\n${body}\n</body></html>\n`
}

function truncationNotes (data) {
  const notes = []
  if (data.mapsOmitted > 0) notes.push(`${data.mapsOmitted} more maps not shown (the response is bounded in size; use ?map=NAME).`)
  if (data.truncated) notes.push('Some sites were left out to keep the response bounded in size; use ?map=NAME or a smaller ?limit.')
  return notes.map(note => `<p class="note">${escapeHtml(note)}</p>`).join('\n')
}

// ---- live-count chart --------------------------------------------------

const CHART_WIDTH = 320
const CHART_HEIGHT = 64

const BAR_SHARE = 0.45 // of the chart's height, for the tallest interval bar

/**
 * Bars of the entries inserted and expired per sampling interval, under the
 * live line: what the live samples cannot show (a burst that came and
 * expired between two of them).
 */
function activityBars (activity, x) {
  const busiest = Math.max(1, ...activity.map(point => Math.max(point.inserted, point.expired)))
  const width = Math.max(1, Math.min(8, CHART_WIDTH / (activity.length + 1) / 2.5))
  const height = count => (count / busiest) * CHART_HEIGHT * BAR_SHARE
  const bar = (kind, left, count) => count <= 0
    ? ''
    : `<rect class="${kind}-bar" x="${left.toFixed(1)}" y="${(CHART_HEIGHT - height(count)).toFixed(1)}" width="${width.toFixed(1)}" height="${height(count).toFixed(1)}" fill="currentColor" opacity="0.55" style="color: var(--${kind === 'inserted' ? 'chart' : 'bad'})"><title>${kind} ${count}</title></rect>`
  return activity.map(point => {
    const at = Math.min(CHART_WIDTH - 2 * width, Math.max(0, x(point.at) - width))
    return bar('inserted', at, point.inserted) + bar('expired', at + width, point.expired)
  }).join('')
}

function activityCaption (activity) {
  if (activity.length === 0) return ''
  const inserted = activity.reduce((sum, point) => sum + point.inserted, 0)
  const expired = activity.reduce((sum, point) => sum + point.expired, 0)
  const busiest = activity.reduce((most, point) => point.inserted > most.inserted ? point : most, activity[0])
  return `; inserted ${inserted}, expired ${expired}` +
    (inserted > 0 ? ` (busiest interval: ${busiest.inserted} inserted, ${busiest.expired} expired)` : '')
}

/**
 * An inline SVG of `points` ([{ at, live }], oldest first), with `activity`
 * ([{ at, inserted, expired }] per interval) as bars, and its caption.
 */
function chart (points, activity = []) {
  if (points.length === 0) return '<figure class="chart"><figcaption>no live-count samples yet</figcaption></figure>'
  const first = points[0].at
  const span = points[points.length - 1].at - first
  const lives = points.map(point => point.live)
  const max = Math.max(...lives)
  const min = Math.min(...lives)
  const top = Math.max(1, max) // an empty map draws a flat line at the bottom
  const x = at => span === 0 ? CHART_WIDTH : ((at - first) / span) * CHART_WIDTH
  const y = live => CHART_HEIGHT - 2 - (live / top) * (CHART_HEIGHT - 4)
  const coordinates = points.map(point => `${x(point.at).toFixed(1)},${y(point.live).toFixed(1)}`)
  if (points.length === 1) coordinates.unshift(`0,${y(points[0].live).toFixed(1)}`)
  const area = `0,${CHART_HEIGHT} ${coordinates.join(' ')} ${CHART_WIDTH},${CHART_HEIGHT}`
  const now = points[points.length - 1].live
  const caption = `live entries over the last ${duration(span)}: min ${min}, max ${max}, now ${now}${activityCaption(activity)}`
  return '<figure class="chart">' +
    `<svg viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" preserveAspectRatio="none" role="img" aria-label="${escapeHtml(caption)}">` +
    `<polygon points="${area}" fill="currentColor" opacity="0.12" style="color: var(--chart)"/>` +
    activityBars(activity, x) +
    `<polyline class="live-line" points="${coordinates.join(' ')}" fill="none" stroke="currentColor" stroke-width="1.5" style="color: var(--chart)" vector-effect="non-scaling-stroke"/>` +
    `</svg><figcaption>${escapeHtml(caption)}</figcaption></figure>`
}

/** The sampled history of a map, ending with the figure being rendered. */
function pointsOf (history, map, at) {
  const points = history === null ? [] : history.series(map.id)
  if (points.length === 0 || points[points.length - 1].at < at) points.push({ at, live: map.live })
  return points
}

// ---- report page -------------------------------------------------------

// The report's site rows name the site (and how many app callers reach a
// dependency's); a diff's rows, which list no callers, name the caller too.
function stackDetails (site, whereOptions = { inDependency: site.inDependency, callers: callerCount(site) }) {
  const stack = Array.isArray(site.stack) && site.stack.length > 0 ? site.stack.join('\n') : '(no stack recorded)'
  const removedAt = (site.removedAt || []).map(remove =>
    `removed at ${shortSite(remove.site)}  ${remove.estimated ? '~' : ''}${remove.count}`).join('\n')
  return `<details class="stack"><summary class="site-text">${escapeHtml(insertedAt(site.site, whereOptions, shortSite))}</summary>` +
    `<pre class="frames">${escapeHtml(stack)}</pre>` +
    (removedAt === '' ? '' : `<pre class="removed-at">${escapeHtml(removedAt)}</pre>`) +
    '</details>'
}

function lifetimeCell (lifetime) {
  if (!lifetime) return '<td class="lifetime muted">-</td>'
  return `<td class="lifetime" title="age at removal of ${escapeHtml(lifetime.count)} entries">p50 ${escapeHtml(duration(lifetime.p50Ms))} · p99 ${escapeHtml(duration(lifetime.p99Ms))} · max ${escapeHtml(duration(lifetime.maxMs))}</td>`
}

function figureCells (row, approx) {
  return `<td class="num live">${approx}${escapeHtml(row.live)}</td><td class="num">${approx}${escapeHtml(row.inserts)}</td>` +
    `<td class="num">${approx}${escapeHtml(row.removes)}</td><td class="num">${approx}${escapeHtml(row.expired)}</td>`
}

function siteRow (site) {
  const approx = site.estimated ? '~' : ''
  const status = site.suspect ? '&#9888; suspect' : `<span class="muted">${site.held ? 'held' : 'ok'}</span>`
  const reason = site.suspect ? reasonCell(reasonOfRow(site, site.label && shortSite(site.label))) : ''
  return `<tr class="site${site.suspect ? ' suspect' : ''}" data-suspect="${site.suspect ? 'true' : 'false'}">` +
    `<td class="status">${status}</td>${figureCells(site, approx)}` +
    `<td class="num">${escapeHtml(duration(site.oldestAgeMs))}</td>${lifetimeCell(site.lifetime)}<td>${stackDetails(site)}${reason}</td></tr>` +
    callerRows(site, approx)
}

function reasonCell (reason) {
  return reason ? `<div class="reason">${escapeHtml(reason)}</div>` : ''
}

// One row per caller (distinct stack) under its site, when there is more than
// one or the site is a dependency's.
function callerRows (site, approx) {
  const callers = site.callers || []
  if (!showsCallers(site)) return ''
  const rows = callers.map(caller => {
    const stack = Array.isArray(caller.stack) && caller.stack.length > 0 ? caller.stack.join('\n') : '(no stack recorded)'
    const reason = caller.suspect ? reasonCell(reasonOfRow(caller)) : ''
    return `<tr class="caller${caller.suspect ? ' suspect' : ''}" data-suspect="${caller.suspect ? 'true' : 'false'}">` +
      `<td class="status">${caller.suspect ? '&#9888; caller' : '<span class="muted">caller</span>'}</td>${figureCells(caller, approx)}` +
      `<td class="num">${escapeHtml(duration(caller.oldestAgeMs))}</td>${lifetimeCell(caller.lifetime)}` +
      `<td><details class="stack"><summary class="site-text">from ${escapeHtml(callerName(caller))}</summary>` +
      `<pre class="frames">${escapeHtml(stack)}</pre></details>${reason}</td></tr>`
  })
  const other = site.otherCallers
  if (other) {
    rows.push(`<tr class="caller other${other.suspect ? ' suspect' : ''}"><td class="status muted">${escapeHtml(other.callers)} more</td>${figureCells(other, approx)}` +
      '<td class="num">-</td><td class="lifetime muted">-</td><td class="muted">other callers</td></tr>')
  }
  return rows.join('')
}

function siteTable (map) {
  if (map.sites.length === 0) {
    const why = map.callSites === 'off' ? 'call sites are off for this map: counts only' : 'no sites recorded'
    return `<p class="muted">${escapeHtml(why)}</p>`
  }
  const head = '<tr><th>status</th><th class="num">live</th><th class="num">inserts</th><th class="num">removes</th>' +
    '<th class="num">expired</th><th class="num">oldest</th><th>lifetime</th><th>insert site (click for the stack)</th></tr>'
  const omitted = map.sitesOmitted > 0 ? `<p class="muted">${escapeHtml(map.sitesOmitted)} more sites not shown</p>` : ''
  return `<table class="sites"><thead>${head}</thead><tbody>${map.sites.map(siteRow).join('')}</tbody></table>${omitted}`
}

function oldestEntries (map) {
  const entries = map.oldestEntries || []
  if (entries.length === 0) return ''
  const withKeys = entries.some(entry => entry.key !== undefined)
  const rows = entries.map(entry => `<tr><td class="num">${escapeHtml(duration(entry.ageMs))}</td>` +
    `<td class="site-text">${escapeHtml(shortSite(entry.site))}</td>` +
    (withKeys ? `<td class="key"><code>${escapeHtml(entry.key === undefined ? '' : entry.key)}</code></td>` : '') + '</tr>').join('')
  return `<details class="oldest"><summary>${entries.length} oldest entries</summary><table><thead><tr><th class="num">age</th><th>inserted at</th>` +
    `${withKeys ? '<th>key</th>' : ''}</tr></thead><tbody>${rows}</tbody></table></details>`
}

function badges (map) {
  const suspects = map.sites.filter(site => site.suspect).length
  const list = []
  if (suspects > 0) list.push(`<span class="badge suspect">${suspects} suspect site${suspects === 1 ? '' : 's'}</span>`)
  if (map.threadId) list.push(`<span class="badge plain">thread ${escapeHtml(map.threadId)}</span>`)
  if (map.callSites && (map.estimated || (map.callSites !== 'all' && map.callSites !== 'auto'))) list.push(`<span class="badge plain">call sites ${escapeHtml(map.callSites)}${map.estimated ? ', estimated' : ''}</span>`)
  return list.join(' ')
}

function mapSection (map, history, at) {
  const suspects = map.sites.some(site => site.suspect)
  const stats = `<span>inserts ${escapeHtml(map.inserts)}</span><span>removes ${escapeHtml(map.removes)}</span><span>expired ${escapeHtml(map.expired)}</span>` +
    `<span>overwrites ${escapeHtml(map.overwrites)}</span><span>oldest ${escapeHtml(duration(map.oldestAgeMs))}</span>` +
    `<span>ttl ${map.ttlMs > 0 ? escapeHtml(duration(map.ttlMs)) : 'none'}</span>`
  return `<section class="map${suspects ? ' has-suspects' : ''}" id="map-${escapeHtml(map.id)}" data-map-id="${escapeHtml(map.id)}">` +
    '<div class="map-head"><div>' +
    `<h2><span class="map-name">${escapeHtml(map.name)}</span> ${badges(map)}</h2>` +
    `<div class="live-count">${escapeHtml(map.live)} <span class="muted" style="font-size:14px;font-weight:400">live</span></div>` +
    `<div class="stats muted">${stats}</div></div>${chart(pointsOf(history, map, at), history === null ? [] : history.activity(map.id))}</div>` +
    `${siteTable(map)}${oldestEntries(map)}</section>`
}

function summaryTable (maps) {
  if (maps.length === 0) return '<p class="muted">No handle maps are registered in this process.</p>'
  const rows = maps.map(map => {
    const suspects = map.sites.filter(site => site.suspect).length
    return `<tr><td><a href="#map-${escapeHtml(map.id)}">${escapeHtml(map.name)}</a></td><td class="num">${escapeHtml(map.live)}</td>` +
      `<td class="num">${escapeHtml(duration(map.oldestAgeMs))}</td><td>${suspects > 0 ? `<span class="badge suspect">${suspects}</span>` : ''}</td></tr>`
  }).join('')
  return `<table class="summary"><thead><tr><th>map</th><th class="num">live</th><th class="num">oldest</th><th>suspect sites</th></tr></thead><tbody>${rows}</tbody></table>`
}

/**
 * The page for a registry report. `history` is a LiveHistory (or null) and
 * `query` the request's `{ map, limit }`, kept in the page's links.
 */
function renderReportPage (report, { history = null, query = {} } = {}) {
  const at = new Date(report.at).toISOString()
  const body = '<header><h1>handle-ledger: live handles</h1>' +
    `<div class="muted">pid ${escapeHtml(report.pid)}, ${escapeHtml(at)}${query.map === undefined ? '' : `, map ${escapeHtml(JSON.stringify(query.map))}`}</div>` +
    `${navigation(query)}</header>\n${truncationNotes(report)}\n${summaryTable(report.maps)}\n` +
    report.maps.map(map => mapSection(map, history, report.at)).join('\n')
  return htmlDocument('handle-ledger /debug/handles', body)
}

// ---- diff page ---------------------------------------------------------

function diffRow (site) {
  return `<tr class="site${site.suspect ? ' suspect' : ''}" data-suspect="${site.suspect ? 'true' : 'false'}">` +
    `<td class="status">${site.suspect ? '&#9888; suspect' : site.held ? '<span class="muted">held</span>' : ''}</td>` +
    `<td class="num live-delta">${escapeHtml(signed(site.liveDelta))}</td><td class="num">${escapeHtml(signed(site.insertsDelta))}</td>` +
    `<td class="num">${escapeHtml(signed(site.removesDelta))}</td><td class="num">${escapeHtml(signed(site.expiredDelta))}</td>` +
    `<td class="num">${escapeHtml(site.live)}</td><td>${stackDetails(site, site)}` +
    `${site.suspect ? reasonCell(reasonOfRow(site, site.label && shortSite(site.label))) : ''}</td></tr>`
}

function diffSection (map) {
  const head = '<tr><th>status</th><th class="num">&#916; live</th><th class="num">&#916; inserts</th><th class="num">&#916; removes</th>' +
    '<th class="num">&#916; expired</th><th class="num">live now</th><th>insert site (click for the stack)</th></tr>'
  const table = map.sites.length === 0
    ? '<p class="muted">no site changed</p>'
    : `<table class="sites"><thead>${head}</thead><tbody>${map.sites.map(diffRow).join('')}</tbody></table>`
  const omitted = map.sitesOmitted > 0 ? `<p class="muted">${escapeHtml(map.sitesOmitted)} more sites not shown</p>` : ''
  return `<section class="map" id="map-${escapeHtml(map.id)}" data-map-id="${escapeHtml(map.id)}">` +
    `<h2><span class="map-name">${escapeHtml(map.name)}</span>${map.closed ? ' <span class="badge plain">closed</span>' : ''}</h2>` +
    `<div class="live-count">${escapeHtml(map.live)} <span class="muted" style="font-size:14px;font-weight:400">live (${escapeHtml(signed(map.liveDelta))})</span></div>` +
    `<div class="stats muted"><span>inserts ${escapeHtml(signed(map.insertsDelta))}</span><span>removes ${escapeHtml(signed(map.removesDelta))}</span>` +
    `<span>expired ${escapeHtml(signed(map.expiredDelta))}</span></div>${table}${omitted}</section>`
}

/** The page for `registry.diff()` output: what grew, by map and by site. */
function renderDiffPage (diff, { query = {} } = {}) {
  const body = `<header><h1>handle-ledger: what changed over ${escapeHtml(duration(diff.durationMs))}</h1>` +
    `<div class="muted">${escapeHtml(new Date(diff.from).toISOString())} to ${escapeHtml(new Date(diff.to).toISOString())}</div>` +
    `${navigation(query)}</header>\n${truncationNotes(diff)}\n` +
    (diff.maps.length === 0 ? '<p class="muted">No handle maps are registered in this process.</p>' : diff.maps.map(diffSection).join('\n'))
  return htmlDocument('handle-ledger /debug/handles diff', body)
}

module.exports = { renderReportPage, renderDiffPage, escapeHtml, PAGE_POLICY }
