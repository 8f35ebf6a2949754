'use strict'
// The /debug/handles chart shows bursts the live samples miss: entries that
// were inserted and expired between two samples read 0 live at both, but the
// inserts and expiries of that interval are recorded and drawn as bars, with
// their totals in the caption. Checked on the ring itself, on the real
// registry (a TTL map whose entries expire between samples), and on the page
// the route serves, opened in headless Chromium.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { once } = require('node:events')
const { chromium } = require('playwright-core')
const { HandleMap, registry } = require('..')
const { debugHandles } = require('../http.js')
const { LiveHistory, existingHistory } = require('../lib/http/history.js')
const { renderReportPage } = require('../lib/http/html.js')

const maps = []
after(() => { for (const map of maps) map.close() })

test('the ring keeps inserts and expiries per interval next to the live count', () => {
  let figures = { live: 0, inserts: 0, expired: 0 }
  const history = new LiveHistory({ capacity: 4, read: () => [{ id: 1, name: 'a', ...figures }] })
  history.sampleNow(1000)
  figures = { live: 0, inserts: 40, expired: 40 } // a burst between two samples
  history.sampleNow(2000)
  figures = { live: 3, inserts: 45, expired: 42 }
  history.sampleNow(3000)
  assert.deepEqual(history.series(1).map(point => point.live), [0, 0, 3])
  assert.deepEqual(history.activity(1), [
    { at: 2000, inserted: 40, expired: 40 },
    { at: 3000, inserted: 5, expired: 2 }
  ], 'the first sample has no interval before it')
  for (let at = 4000; at <= 6000; at += 1000) history.sampleNow(at)
  assert.deepEqual(history.activity(1).map(point => point.at), [3000, 4000, 5000, 6000], 'bounded like the live ring')
  assert.deepEqual(history.activity(1).slice(1).map(point => point.inserted), [0, 0, 0])
})

test('a map created after the history started counts all its inserts in its first interval', () => {
  const read = []
  const history = new LiveHistory({ read: () => read })
  history.sampleNow(1000)
  read.push({ id: 9, name: 'late', live: 1, inserts: 7, expired: 6 })
  history.sampleNow(2000)
  assert.deepEqual(history.activity(9), [{ at: 2000, inserted: 7, expired: 6 }])
})

test('a real TTL map: 40 entries that live and expire between two samples show as 40 in, 40 expired', () => {
  let now = 0
  const map = new HandleMap({ name: 'history-burst', ttl: 100, clock: () => now, strict: false })
  maps.push(map)
  const history = new LiveHistory()
  history.sampleNow(1000)
  for (let i = 0; i < 40; i++) map.set(`burst-${i}`, i)
  now = 500
  assert.equal(map.purgeExpired(), 40)
  history.sampleNow(6000)
  const id = registry.report({ map: 'history-burst', limit: 0 }).maps[0].id
  assert.deepEqual(history.series(id).map(point => point.live), [0, 0], 'the live samples miss the burst')
  assert.deepEqual(history.activity(id), [{ at: 6000, inserted: 40, expired: 40 }])
  const page = renderReportPage(registry.report({ map: 'history-burst' }), { history })
  assert.match(page, /min 0, max 0, now 0; inserted 40, expired 40 \(busiest interval: 40 inserted, 40 expired\)/)
  assert.equal(page.match(/<rect class="inserted-bar"/g).length, 1)
  assert.equal(page.match(/<rect class="expired-bar"/g).length, 1)
})

test('the route page in headless Chromium draws the burst as bars', async () => {
  let now = 0
  const map = new HandleMap({ name: 'history-page', ttl: 100, clock: () => now, strict: false })
  maps.push(map)
  const server = http.createServer(debugHandles())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const history = existingHistory() // the handler started the shared sampler
  history.sampleNow()
  for (let i = 0; i < 40; i++) map.set(`burst-${i}`, i)
  now = 500
  map.purgeExpired()
  history.sampleNow()
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] })
  try {
    const page = await browser.newPage()
    const response = await page.goto(`http://127.0.0.1:${server.address().port}/debug/handles?format=html&map=history-page`)
    assert.equal(response.status(), 200)
    const figure = page.locator('section.map figure.chart')
    assert.match(await figure.locator('figcaption').innerText(), /max 0, now 0; inserted 40, expired 40/)
    const bar = figure.locator('rect.inserted-bar')
    assert.equal(await bar.count(), 1)
    const box = await bar.boundingBox()
    assert.ok(box !== null && box.height > 5 && box.width > 0, `the bar is drawn: ${JSON.stringify(box)}`)
    assert.equal(await figure.locator('rect.expired-bar').count(), 1)
  } finally {
    await browser.close()
    server.closeAllConnections()
    server.close()
  }
})
