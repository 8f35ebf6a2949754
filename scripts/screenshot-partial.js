'use strict'
// Renders docs/partial-leak.png: the /debug/handles page of a partial leak
// (scripts/partial-leak-scene.js: a shared helper, one of its two callers
// never removes), taken with headless Chromium (Debian chromium +
// playwright-core).
//
//   node scripts/screenshot-partial.js [out.png]

const http = require('node:http')
const path = require('node:path')
const { once } = require('node:events')
const { chromium } = require('playwright-core')
const { HandleMap, registry, formatReport } = require('..')
const { debugHandles } = require('../http.js')
const { simulatePartialLeak } = require('./partial-leak-scene.js')

const OUT = path.resolve(process.argv[2] || path.join(__dirname, '..', 'docs', 'partial-leak.png'))
const CHROMIUM = {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
}

async function main () {
  const { calls } = simulatePartialLeak(options => new HandleMap(options))
  process.stdout.write(formatReport(registry.report({ map: 'upstream-calls' })))
  const server = http.createServer(debugHandles())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const browser = await chromium.launch(CHROMIUM)
  try {
    const page = await browser.newPage({ viewport: { width: 1180, height: 470 }, colorScheme: 'light' })
    await page.goto(`http://127.0.0.1:${server.address().port}/debug/handles?map=upstream-calls`)
    await page.screenshot({ path: OUT })
    console.log(`wrote ${OUT}`)
  } finally {
    await browser.close()
    server.close()
    calls.close()
  }
}

main().catch(error => {
  console.error(error)
  process.exitCode = 1
})
