'use strict'
// A partial leak on the /debug/handles page in headless Chromium: the shared
// helper's site with one caller row per route, the leaking caller marked
// suspect with its reason, the lifetime percentiles, and the library case's
// "app line (via dependency line in a dependency)".

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const { once } = require('node:events')
const { chromium } = require('playwright-core')
const { debugHandles } = require('../http.js')
const { newMap } = require('./support/maps.js')
const { simulatePartialLeak } = require('../scripts/partial-leak-scene.js')

const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'handle-ledger-partial-page-'))
after(() => fs.rmSync(tmp, { recursive: true, force: true }))

test('the page shows a partial leak: caller rows, the suspect caller\'s reason, lifetimes', async () => {
  const { calls, orderLine, userLine } = simulatePartialLeak(newMap, 'page-upstream-calls')
  assert.equal(calls.size, 40)
  const server = http.createServer(debugHandles())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const browser = await chromium.launch(CHROMIUM)
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await page.goto(`http://127.0.0.1:${server.address().port}/debug/handles?map=page-upstream-calls`)
    const site = page.locator('tr.site')
    assert.equal(await site.count(), 1)
    assert.equal(await site.getAttribute('data-suspect'), 'true')
    // The site's reason names the suspect caller by its own line, not by the helper or new Promise.
    assert.match(await site.locator('.reason').innerText(), new RegExp(`^never removed from caller getOrder \\(scripts/partial-leak-scene\\.js:${orderLine}:\\d+\\): 40 live, oldest 30\\.0 s; the site's other callers' entries are removed within \\d+ ms 99 times in 100, and none of their 120 outlived 1\\.0 s \\(chance 1 in [\\d.]+e\\d+ if this caller were like them\\)$`))
    assert.match(await site.locator('td.lifetime').innerText(), /^p50 \d+ ms · p99 \d+ ms · max \d+ ms$/)
    const callers = page.locator('tr.caller')
    assert.equal(await callers.count(), 2)
    const first = callers.nth(0)
    assert.equal(await first.getAttribute('data-suspect'), 'true')
    assert.match(await first.locator('summary').innerText(), new RegExp(`^from getOrder \\(scripts/partial-leak-scene\\.js:${orderLine}:\\d+\\)$`), 'the suspect caller is the orders route')
    assert.match(await first.locator('.reason').innerText(), /never removed from this caller/)
    assert.equal(await first.locator('td.live').innerText(), '40')
    const second = callers.nth(1)
    assert.equal(await second.getAttribute('data-suspect'), 'false')
    assert.match(await second.locator('summary').innerText(), new RegExp(`^from getUser \\(scripts/partial-leak-scene\\.js:${userLine}:\\d+\\)$`))
    assert.equal(await second.locator('.reason').count(), 0)
    // A caller's stack opens on click.
    await first.locator('summary').click()
    assert.ok((await first.locator('pre.frames').innerText()).includes('callUpstream'))
    await page.screenshot({ path: path.join(tmp, 'partial.png'), fullPage: true })
    assert.ok(fs.statSync(path.join(tmp, 'partial.png')).size > 10_000)
  } finally {
    await browser.close()
    server.close()
  }
})
