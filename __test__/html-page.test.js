'use strict'
/* global MouseEvent */ // used in a function the browser runs
// The /debug/handles page in headless Chromium (Debian chromium, driven by
// playwright-core): a section per map, the leaking site marked suspect, a
// stack on click, the live-count chart, user data escaped, nothing fetched
// but the page itself, and a screenshot in the test's temp folder. Plus the
// live-count sampler behind the chart: a bounded ring, started lazily.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const { once } = require('node:events')
const { spawnSync } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { chromium } = require('playwright-core')
const { HandleMap } = require('..')
const { debugHandles } = require('../http.js')
const { LiveHistory, existingHistory } = require('../lib/http/history.js')

const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
}
const EVIL_NAME = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
const EVIL_KEY = '</code><script>window.__pwned = 3</script>'
const EVIL_FUNCTION = '<img src=y onerror=window.__pwned=4>'

const maps = []
let server
let base
let browser
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'handle-ledger-page-'))

function leakyInsert (map, key) { map.set(key, { secret: 'value-never-rendered' }) }
function balancedInsert (map, key) { map.set(key, { secret: 'value-never-rendered' }) }

before(async () => {
  const orders = new HandleMap({ name: 'html-orders', callSites: 'all' })
  const evil = new HandleMap({ name: EVIL_NAME, callSites: 'all' })
  maps.push(orders, evil)
  const handler = debugHandles({ oldest: 3, includeKeys: true })
  // The handler started the shared sampler; a few samples while the leak
  // grows give the chart a shape (the timer samples every 5 s).
  const history = existingHistory()
  for (let step = 0; step < 4; step++) {
    for (let i = 0; i < 3; i++) leakyInsert(orders, `leak-${step}-${i}`)
    balancedInsert(orders, `ok-${step}`)
    orders.delete(`ok-${step}`)
    history.sampleNow()
  }
  evil.set(EVIL_KEY, 'value-never-rendered')
  const inserters = { [EVIL_FUNCTION] (map) { map.set('k', 'value-never-rendered') } }
  inserters[EVIL_FUNCTION](evil)
  // The never-removed verdict needs the oldest entry outlierFloorMs (1 s) old.
  await sleep(1100)

  server = http.createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  base = `http://127.0.0.1:${server.address().port}/debug/handles`
  browser = await chromium.launch(CHROMIUM)
})

after(async () => {
  if (browser) await browser.close()
  if (server) {
    server.closeAllConnections()
    server.close()
  }
  for (const map of maps) map.close()
})

function mapSection (page, name) {
  return page.locator('section.map').filter({ has: page.locator('.map-name', { hasText: name }) })
}

test('the page in headless Chromium: a section per map, the leak marked suspect, stacks on click, a chart, nothing fetched', async (t) => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
  try {
    const requests = []
    page.on('request', request => requests.push(request.url()))
    const response = await page.goto(`${base}?map=html-orders`) // no ?format: the browser's Accept picks html
    assert.equal(response.status(), 200)
    assert.equal(response.headers()['content-type'], 'text/html; charset=utf-8')

    const section = mapSection(page, 'html-orders')
    assert.equal(await section.count(), 1)
    assert.equal((await section.locator('.live-count').innerText()).split(/\s/)[0], '12')
    assert.match(await section.locator('h2').innerText(), /1 suspect site/)

    const rows = section.locator('tr.site')
    assert.equal(await rows.count(), 2)
    const leak = rows.nth(0)
    assert.match(await leak.getAttribute('class'), /\bsuspect\b/)
    assert.match(await leak.innerText(), /suspect/)
    assert.match(await leak.locator('summary').innerText(), /^leakyInsert \(/)
    assert.equal(await leak.locator('td.live').innerText(), '12')
    assert.match(await leak.locator('.reason').innerText(), /inserted but never removed/)
    const healthy = rows.nth(1)
    assert.doesNotMatch(await healthy.getAttribute('class'), /suspect/)
    assert.match(await healthy.locator('summary').innerText(), /^balancedInsert \(/)
    assert.equal(await healthy.locator('.reason').count(), 0)

    const frames = leak.locator('pre.frames')
    assert.equal(await frames.isVisible(), false, 'the stack is folded until clicked')
    await leak.locator('summary').click()
    assert.equal(await frames.isVisible(), true)
    assert.match(await frames.innerText(), /leakyInsert \(.*html-page\.test\.js:\d+:\d+\)\n/)

    const points = (await section.locator('svg polyline.live-line').getAttribute('points')).trim().split(/\s+/)
    assert.ok(points.length >= 5, `the chart has the sampled history, got ${points.length} points`)
    const heights = points.map(point => Number(point.split(',')[1]))
    assert.ok(heights[0] > heights[heights.length - 1], 'a growing map draws a rising line (SVG y grows downwards)')
    assert.match(await section.locator('figcaption').innerText(), /now 12/)

    assert.deepEqual(requests, [`${base}?map=html-orders`], 'self-contained: no other request')
    assert.equal(await page.evaluate(() => document.scripts.length), 0)
    assert.doesNotMatch(await page.content(), /value-never-rendered/)

    const screenshot = path.join(tmp, 'debug-handles.png')
    await page.screenshot({ path: screenshot, fullPage: true })
    const png = fs.readFileSync(screenshot)
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    assert.ok(png.length > 5000, `a real screenshot, ${png.length} bytes`)
    t.diagnostic(`screenshot: ${screenshot}`)
  } finally {
    await page.close()
  }
})

test('user data containing <script> is shown as text, never run: map names, sites and keys', async () => {
  const page = await browser.newPage()
  try {
    await page.goto(`${base}?format=html`)
    const section = mapSection(page, 'window.__pwned = 1')
    assert.equal(await section.count(), 1)
    assert.equal(await section.locator('.map-name').textContent(), EVIL_NAME)
    assert.equal(await page.locator(`.summary a[href="#map-${await section.getAttribute('data-map-id')}"]`).textContent(), EVIL_NAME)
    assert.equal(await section.locator('td.key code').first().textContent(), EVIL_KEY, 'the oldest entry first')
    const sites = await section.locator('summary.site-text').allTextContents()
    assert.ok(sites.some(site => site.startsWith(`${EVIL_FUNCTION} (`)), sites.join('\n'))
    assert.equal(await page.evaluate(() => window.__pwned), undefined)
    assert.equal(await page.evaluate(() => document.querySelectorAll('script, img').length), 0)
  } finally {
    await page.close()
  }

  const raw = await (await fetch(`${base}?format=html`)).text()
  assert.doesNotMatch(raw, /<script|<img/i, 'no user markup survives in the HTML source')
  assert.ok(raw.includes('&lt;script&gt;window.__pwned = 1&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned = 2&quot;&gt;'))
  assert.ok(raw.includes('&lt;/code&gt;&lt;script&gt;window.__pwned = 3&lt;/script&gt;'))
  const diffPage = await (await fetch(`${base}?format=html&seconds=1`)).text()
  assert.match(diffPage, /what changed over/)
  assert.doesNotMatch(diffPage, /<script|<img/i)
})

test('the live-count history is a bounded ring sampled at a fixed interval', async () => {
  let tick = 0
  const read = () => {
    tick++
    const maps = [{ id: 1, name: 'a', live: tick }, { id: 2, name: 'b', live: 10 * tick }, { id: 3, name: 'c', live: 0 }]
    return tick <= 3 ? maps : maps.slice(0, 1) // b and c close after 3 samples
  }
  const history = new LiveHistory({ intervalMs: 1000, capacity: 5, maxMaps: 2, read })
  for (let i = 1; i <= 12; i++) history.sampleNow(i * 1000)
  assert.deepEqual(history.series(1), [8, 9, 10, 11, 12].map(n => ({ at: n * 1000, live: n })), 'the last 5 samples, oldest first')
  assert.deepEqual(history.series(2), [], 'a map gone for a whole ring is forgotten')
  assert.deepEqual(history.series(3), [], 'beyond maxMaps, the smallest maps are not tracked')
  assert.equal(history.mapCount, 1)

  let timed = 0
  const timer = new LiveHistory({ intervalMs: 25, capacity: 4, read: () => [{ id: 7, name: 't', live: ++timed }] })
  assert.equal(timer.running, false)
  timer.start()
  timer.start() // idempotent: one timer
  assert.equal(timed, 1, 'start() takes a first sample at once')
  const deadline = Date.now() + 5000
  while (timed < 6 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  timer.stop()
  assert.ok(timed >= 6, `the timer keeps sampling, ${timed} samples`)
  const stoppedAt = timed
  await new Promise(resolve => setTimeout(resolve, 80))
  assert.equal(timed, stoppedAt, 'stop() stops it')
  const series = timer.series(7)
  assert.equal(series.length, 4, 'never more than capacity')
  assert.deepEqual(series.map(point => point.live), [stoppedAt - 3, stoppedAt - 2, stoppedAt - 1, stoppedAt])
  const gaps = series.slice(1).map((point, i) => point.at - series[i].at)
  assert.ok(gaps.every(gap => gap >= 20), `one sample per interval (25 ms) at most, gaps ${gaps}`)

  const failing = new LiveHistory({ read: () => { throw new Error('registry down') } })
  failing.sampleNow()
  assert.equal(failing.lastError.message, 'registry down')
})

test('the sampler starts when the first handler is created, never at require time, and never holds the process open', () => {
  const root = path.join(__dirname, '..')
  const script = `
    const history = require(${JSON.stringify(path.join(root, 'lib/http/history.js'))})
    const { debugHandles } = require(${JSON.stringify(root + '/http.js')})
    const atRequire = history.existingHistory() === null ? 'not started' : 'started'
    debugHandles()
    const shared = history.existingHistory()
    debugHandles()
    console.log(JSON.stringify({ atRequire, running: shared.running, same: shared === history.existingHistory(), intervalMs: shared.intervalMs, capacity: shared.capacity }))
  `
  const started = Date.now()
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 })
  assert.equal(child.status, 0, child.stderr)
  assert.ok(Date.now() - started < 12_000, 'the process exits by itself: the sampler timer is unref\'d')
  assert.deepEqual(JSON.parse(child.stdout), { atRequire: 'not started', running: true, same: true, intervalMs: 5000, capacity: 120 })
})

// ---- pages written to a file (handle-ledger show --html) ------------------------

const CLI = path.join(__dirname, '..', require('../package.json').bin['handle-ledger'])
const { registry } = require('..')
const { renderReportPage, renderDiffPage } = require('../lib/http/html.js')

/** One payload for text and attribute contexts: a script element, or an attribute that breaks out of its quotes. */
const payload = where => `1" onmouseover="window.__pwned = '${where}'" x="<script>window.__pwned = '${where}'</script>`

/** `value` with every number and boolean below `maps` (the fields the page wrote raw) replaced by a payload naming it. */
function poisoned (value, where = 'maps') {
  if (Array.isArray(value)) return value.map((item, i) => poisoned(item, `${where}[${i}]`))
  if (value === null || typeof value !== 'object') return typeof value === 'number' || typeof value === 'boolean' ? payload(where) : value
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, poisoned(item, `${where}.${key}`)]))
}

/** The page at `file` in Chromium: `window.__pwned` after hovering every element, and what markup it has. */
async function openWrittenPage (file) {
  const page = await browser.newPage()
  try {
    const requests = []
    page.on('request', request => requests.push(request.url()))
    await page.goto(require('node:url').pathToFileURL(file).href)
    return await page.evaluate(() => {
      for (const element of document.querySelectorAll('*')) element.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }))
      const handlers = [...document.querySelectorAll('*')].flatMap(element => element.getAttributeNames().filter(name => name.startsWith('on')))
      return { pwned: window.__pwned, scripts: document.querySelectorAll('script').length, handlers, text: document.body.textContent }
    }).then(seen => ({ ...seen, requests }))
  } finally {
    await page.close()
  }
}

test('a page rendered from a file that skipped the schema check runs nothing: every field escaped, in text and attributes (Chromium)', async () => {
  const orders = maps[0]
  const report = JSON.parse(JSON.stringify(registry.report({ map: 'html-orders', oldest: 2, includeKeys: true })))
  // Caller rows and "other callers" show only for a site with several callers.
  for (const site of report.maps[0].sites) {
    site.callers = [site.callers[0], site.callers[0]]
    site.otherCallers = { callers: 3, live: 1, inserts: 2, removes: 1, expired: 0, suspect: true }
  }
  const hostile = { ...report, maps: poisoned(report.maps) }
  const newer = registry.snapshot({ map: 'html-orders' })
  leakyInsert(orders, 'one-more')
  const diff = JSON.parse(JSON.stringify(registry.diff(newer, registry.snapshot({ map: 'html-orders' }))))
  const hostileDiff = { ...diff, maps: poisoned(diff.maps) }
  assert.ok(hostile.maps[0].sites[0].lifetime || hostile.maps[0].sites[1].lifetime, 'a lifetime cell (a title attribute) is in the page')
  for (const [name, html] of [['report', renderReportPage(hostile)], ['diff', renderDiffPage(hostileDiff)]]) {
    const file = path.join(tmp, `poisoned-${name}.html`)
    fs.writeFileSync(file, html)
    const seen = await openWrittenPage(file)
    assert.equal(seen.pwned, undefined, `${name}: a script ran`)
    assert.equal(seen.scripts, 0, `${name}: a script element`)
    assert.deepEqual(seen.handlers, [], `${name}: event handler attributes`)
    assert.ok(seen.text.includes("<script>window.__pwned = 'maps[0].live'</script>"), `${name}: the field shown as text`)
    assert.equal(seen.requests.length, 1, `${name}: nothing fetched`)
  }
})

test('the page handle-ledger show --html writes carries a Content-Security-Policy: markup that slipped past escaping does not run (Chromium)', async () => {
  const saved = path.join(tmp, 'saved-report.json')
  fs.writeFileSync(saved, JSON.stringify(registry.report()))
  const out = path.join(tmp, 'written.html')
  const result = spawnSync(CLI, ['show', saved, '--html', out], { encoding: 'utf8' })
  assert.equal(result.status, 0, result.stderr)
  const written = fs.readFileSync(out, 'utf8')
  const seen = await openWrittenPage(out)
  assert.equal(seen.pwned, undefined)
  assert.ok(seen.text.includes(EVIL_NAME), 'the hostile map name shown as text')
  // Markup injected as if escaping had missed a field: the policy stops it.
  const injected = '<script>window.__pwned = 9</script><img src="x" onerror="window.__pwned = 10"><div onmouseover="window.__pwned = 11">hover</div>'
  const withInjection = path.join(tmp, 'written-injected.html')
  fs.writeFileSync(withInjection, written.replace('<body>', `<body>${injected}`))
  const blocked = await openWrittenPage(withInjection)
  assert.equal(blocked.scripts, 1, 'the injected script is in the page')
  assert.equal(blocked.pwned, undefined, 'the policy kept it from running')
  // The control: without the policy the same injection runs, so the check above can fail.
  const withoutPolicy = path.join(tmp, 'written-no-policy.html')
  fs.writeFileSync(withoutPolicy, written.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, '').replace('<body>', `<body>${injected}`))
  assert.notEqual((await openWrittenPage(withoutPolicy)).pwned, undefined)
})
