'use strict'
// Renders docs/screenshot.png: the /debug/handles page of a small demo
// process, taken with headless Chromium (Debian chromium + playwright-core).
//
//   node scripts/screenshot.js [out.png]
//
// The demo maps run on a simulated clock (the HandleMap `clock` option) so
// ten minutes of traffic, and the live-count chart of those ten minutes, are
// produced in a second. Nothing is fetched from the network.

const http = require('node:http')
const path = require('node:path')
const { once } = require('node:events')
const { chromium } = require('playwright-core')
const { HandleMap } = require('..')
const { debugHandles } = require('../http.js')
const { existingHistory, INTERVAL_MS, CAPACITY } = require('../lib/http/history.js')

const OUT = path.resolve(process.argv[2] || path.join(__dirname, '..', 'docs', 'screenshot.png'))
const CHROMIUM = {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
}

let simulatedNow = Date.now() - CAPACITY * INTERVAL_MS
const clock = () => simulatedNow

// The demo "application": a retried upload registers its socket again and
// nothing ever deletes it, RPC calls always settle, sessions expire by TTL.
function acceptUpload (sockets, id) { sockets.set(id, { id }) }
function finishUpload (sockets, id) { sockets.delete(id) }
function retryUpload (sockets, id) { sockets.set(`retry-${id}`, { id }) }
function callBackend (pending, id) { pending.set(id, { id }) }
function settleCall (pending, id) { pending.delete(id) }
function openSession (sessions, id) { sessions.set(id, { id }) }

function simulateStep (maps, step) {
  const { sockets, pending, sessions } = maps
  for (let i = 0; i < 6; i++) {
    const id = `${step}-${i}`
    acceptUpload(sockets, id)
    finishUpload(sockets, id)
    if (i === 0) retryUpload(sockets, id) // one upload in six is retried and leaks its socket
  }
  const inFlight = 20 + Math.round(15 * Math.sin(step / 9))
  for (let i = 0; i < inFlight; i++) callBackend(pending, `${step}-${i}`)
  for (const id of [...pending.keys()].slice(0, pending.size - inFlight)) settleCall(pending, id)
  if (step % 3 === 0) openSession(sessions, `s-${step}`)
}

async function main () {
  const maps = {
    sockets: new HandleMap({ name: 'upload-sockets', callSites: 'all', clock }),
    pending: new HandleMap({ name: 'pending-rpc', callSites: 'all', clock }),
    sessions: new HandleMap({ name: 'sessions', callSites: 'all', ttl: 180_000, clock, strict: false })
  }
  const handler = debugHandles()
  const history = existingHistory()
  for (let step = 0; step < CAPACITY; step++) {
    simulatedNow += INTERVAL_MS
    simulateStep(maps, step)
    maps.sessions.purgeExpired()
    history.sampleNow(simulatedNow)
  }
  history.stop() // the real timer must not add a sample from the real clock

  const server = http.createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const browser = await chromium.launch(CHROMIUM)
  try {
    const page = await browser.newPage({ viewport: { width: 980, height: 760 }, colorScheme: 'light' })
    await page.goto(`http://127.0.0.1:${server.address().port}/debug/handles`)
    await page.locator('section.map tr.suspect summary').first().click()
    await page.screenshot({ path: OUT })
    console.log(`wrote ${OUT}`)
  } finally {
    await browser.close()
    server.close()
    for (const map of Object.values(maps)) map.close()
  }
}

main().catch(error => {
  console.error(error)
  process.exitCode = 1
})
