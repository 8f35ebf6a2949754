'use strict'
// demo-report.html: the three runs side by side, a chart of live handles and
// RSS against requests sent, and each run's site table. One self-contained
// file (inline CSS and SVG, no scripts), so it opens from disk or a CI artifact.

const { shortSite, siteAt } = require('./scenario.js')

const COLORS = { clean: '#1b7f3b', regression: '#c62828', 'regression+ttl': '#1f5fbf', held: '#7b1fa2', partial: '#b26a00' }
const CHART = { width: 560, height: 260, left: 64, right: 16, top: 16, bottom: 40 }

function escapeHtml (value) {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

const number = (n) => Number(n).toLocaleString('en-US')
const megabytes = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`

// Round axis step: 1, 2 or 5 times a power of ten, so ticks read 0, 500, 1,000...
function niceStep (roughStep) {
  if (roughStep <= 0) return 1
  const power = 10 ** Math.floor(Math.log10(roughStep))
  return [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= roughStep)
}

function ticksUpTo (max, count = 4) {
  const step = niceStep(max / count)
  const ticks = []
  for (let tick = 0; tick <= max + 1e-9; tick += step) ticks.push(tick)
  return ticks
}

function chartSvg ({ title, runs, valueOf, formatValue, xMax }) {
  const { width, height, left, right, top, bottom } = CHART
  const highest = Math.max(...runs.flatMap((run) => run.samples.map(valueOf)))
  const yMax = niceStep(highest / 4) * Math.ceil(highest / niceStep(highest / 4)) || 1
  const x = (sent) => left + (sent / xMax) * (width - left - right)
  const y = (value) => top + (1 - value / yMax) * (height - top - bottom)
  const grid = ticksUpTo(yMax).map((tick) =>
    `<line x1="${left}" x2="${width - right}" y1="${y(tick)}" y2="${y(tick)}" class="grid"/>` +
    `<text x="${left - 6}" y="${y(tick) + 4}" text-anchor="end">${escapeHtml(formatValue(tick))}</text>`).join('')
  const xLabels = ticksUpTo(xMax - 1, 5).map((tick) =>
    `<text x="${x(tick)}" y="${height - bottom + 16}" text-anchor="middle">${escapeHtml(number(tick))}</text>`).join('')
  const lines = runs.map((run) => {
    const points = run.samples.map((s) => `${x(s.sent).toFixed(1)},${y(valueOf(s)).toFixed(1)}`).join(' ')
    return `<polyline fill="none" stroke="${COLORS[run.name]}" stroke-width="2" points="${points}"><title>${escapeHtml(run.title)}</title></polyline>`
  }).join('')
  return `<figure><figcaption>${escapeHtml(title)}</figcaption>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">
${grid}${xLabels}
<text x="${(left + width - right) / 2}" y="${height - 6}" text-anchor="middle">/status requests sent</text>
${lines}
</svg></figure>`
}

function legend (runs) {
  const items = runs.map((run) =>
    `<li><span class="swatch" style="background:${COLORS[run.name]}"></span>${escapeHtml(run.title)}</li>`).join('')
  return `<ul class="legend">${items}</ul>`
}

// One row per insert site; where its entries were removed, and the verdict,
// under the site so three runs fit side by side.
function siteRows (run) {
  return run.map.sites.map((site) => {
    const removedAt = site.removedAt.map((r) => `removed at ${escapeHtml(shortSite(r.site))} (${r.estimated ? '~' : ''}${number(r.count)})`).join('<br>') || (site.held ? 'held: removed by hold() when its call settled' : 'never removed')
    const verdict = site.suspect ? `<br><strong>suspect: ${escapeHtml(site.reason)}</strong>` : ''
    return `<tr class="${site.suspect ? 'suspect' : ''}"><td><code>${escapeHtml(shortSite(site.site))}</code><br><span class="muted">${removedAt}</span>${verdict}</td>` +
      `<td>${number(site.live)}</td><td>${number(site.inserts)}</td><td>${number(site.removes)}</td><td>${number(site.expired)}</td></tr>`
  }).join('')
}

function siteTable (run) {
  return `<table><thead><tr><th>insert site</th><th>live</th><th>in</th><th>out</th><th>expired</th></tr></thead>
<tbody>${siteRows(run)}</tbody></table>`
}

function runColumn (run, insertSite) {
  const map = run.map
  const last = run.samples[run.samples.length - 1]
  const leak = siteAt(run, insertSite)
  const log = run.expiryLog.length === 0
    ? '<p class="muted">onExpire: nothing expired</p>'
    : `<pre>${escapeHtml(run.expiryLog.map(shortSite).join('\n'))}</pre>`
  return `<section class="run" style="border-top-color:${COLORS[run.name]}">
<h2>${escapeHtml(run.title)}</h2>
<dl>
<dt>regression</dt><dd>${run.regression === 'partial' ? 'on failed calls only' : run.regression ? 'on' : 'off'}</dd>
<dt>TTL</dt><dd>${number(run.ttlMs)} ms</dd>
<dt>load</dt><dd>${number(run.load.requests)} requests, ${run.load.connections} connections, ${(run.load.ms / 1000).toFixed(1)} s, ${number(run.load.ok)} answered 2xx</dd>
<dt>live at the end</dt><dd><strong>${number(map.live)}</strong> (peak ${number(run.peakLive)})</dd>
<dt>ledger</dt><dd>${number(map.inserts)} in = ${number(map.removes)} out + ${number(map.expired)} expired + ${number(map.live)} live</dd>
<dt>insert line</dt><dd>${leak === null ? 'not in the report' : `${number(leak.inserts)} in, ${number(leak.removes)} out${leak.suspect ? ' <strong>(suspect)</strong>' : ''}`}</dd>
<dt>RSS</dt><dd>${megabytes(run.samples[0].rss)} &rarr; ${megabytes(last.rss)}</dd>
<dt>heap + buffers after GC</dt><dd>${megabytes(run.retainedAfterGc)}</dd>
</dl>
${siteTable(run)}
${log}
<p>GET /debug/handles?format=text (HTTP ${escapeHtml(run.debugHandles.status)}):</p>
<pre>${escapeHtml(shortSite(run.debugHandles.text))}</pre>
</section>`
}

function checksList (checks) {
  return `<ul class="checks">${checks.map((check) =>
    `<li class="${check.pass ? 'pass' : 'fail'}">${check.pass ? 'PASS' : 'FAIL'}: ${escapeHtml(check.name)} <span class="muted">(${escapeHtml(check.detail)})</span></li>`).join('')}</ul>`
}

function sourceExcerpt (outcome) {
  const lines = [outcome.insertSite, outcome.removeSite, outcome.holdSite].filter(Boolean)
  return `<pre class="source">${lines.map((site) => `core.js:${site.line}  ${escapeHtml(site.text)}`).join('\n')}</pre>`
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin: 0 0 8px; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
svg { width: 560px; max-width: 100%; height: auto; font-size: 11px; background: #fafafa; }
svg .grid { stroke: #ddd; }
.legend { list-style: none; padding: 0; display: flex; gap: 16px; flex-wrap: wrap; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: middle; }
.runs { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.run { border-top: 4px solid; padding-top: 8px; overflow-x: auto; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; } dt { color: #666; } dd { margin: 0; }
table { border-collapse: collapse; font-size: 12px; width: 100%; } td code { word-break: break-all; } th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
tr.suspect td { background: #fdecea; }
.checks { list-style: none; padding: 0; } .pass { color: #1b7f3b; } .fail { color: #c62828; font-weight: 600; }
.muted { color: #777; } pre { background: #f4f4f4; padding: 8px; white-space: pre-wrap; font-size: 12px; }
`

/** The whole page, as a string. */
function renderReport (outcome) {
  const xMax = outcome.requests + 1
  const runs = outcome.runs
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>handle-ledger demo: the status-API leak</title>
<style>${STYLE}</style></head>
<body>
<h1>handle-ledger demo: the status-API leak of the seed story</h1>
<p>Each run started the system (Express <code>/status</code> &rarr; core &rarr; ${runs[0].services} monitored services over HTTP on 127.0.0.1)
in its own process, sent ${number(outcome.requests)} <code>/status</code> requests (${outcome.connections} connections), waited, then sent one more.
Each line is one run, sampled every few requests; its last point is the idle request, after a full GC.</p>
${checksList(outcome.checks)}
<p>The line of <code>core.js</code> that inserts each call context, the cleanup the regression skips, and the fixed variant's <code>hold()</code>, which has no cleanup to skip:</p>
${sourceExcerpt(outcome)}
<div class="charts">
${chartSvg({ title: 'live handles in core.handleMap', runs, valueOf: (s) => s.live, formatValue: (v) => number(v), xMax })}
${chartSvg({ title: 'RSS of the run\'s process (app + core)', runs, valueOf: (s) => s.rss / 1048576, formatValue: (v) => `${v} MB`, xMax })}
</div>
${legend(runs)}
<div class="runs">
${runs.map((run) => runColumn(run, run.held ? outcome.holdSite : outcome.insertSite)).join('\n')}
</div>
<p class="muted">Generated ${escapeHtml(new Date().toISOString())} by <code>npm run demo</code> in ${(outcome.ms / 1000).toFixed(1)} s.</p>
</body></html>
`
}

module.exports = { renderReport, escapeHtml }
