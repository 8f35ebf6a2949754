'use strict'
// The monitored services of the story: tiny HTTP servers on loopback that
// answer a health check after a few ms of work, like a database ping would.

const http = require('node:http')

const SERVICE_NAMES = ['inventory', 'scheduler', 'notifier']
// Each check lists sub-checks, so a response is a few KB, like a real health
// payload: a context that keeps it alive holds real memory.
const SUB_CHECKS = 64
const MIN_WORK_MS = 2
const MAX_WORK_MS = 6

// The sub-checks are serialized once per service: building them per request
// would spend the demo's CPU on the services instead of the core.
const checksJson = new Map()

function healthPayload (name) {
  let checks = checksJson.get(name)
  if (checks === undefined) {
    const list = []
    for (let i = 0; i < SUB_CHECKS; i++) {
      list.push({ check: `${name}.probe-${i}`, status: 'pass', observedValue: Math.round(Math.random() * 1000) / 100, observedUnit: 'ms' })
    }
    checks = JSON.stringify(list)
    checksJson.set(name, checks)
  }
  return `{"service":${JSON.stringify(name)},"status":"pass","at":"${new Date().toISOString()}","checks":${checks}}`
}

function workTime () {
  return MIN_WORK_MS + Math.floor(Math.random() * (MAX_WORK_MS - MIN_WORK_MS + 1))
}

function handleHealth (name, req, res) {
  const url = new URL(req.url, 'http://service')
  if (url.pathname !== '/health') {
    res.writeHead(404).end()
    return
  }
  // ?failShare=0.05: that share of checks fail (503), as a flaky dependency does.
  const failShare = Number(url.searchParams.get('failShare')) || 0
  if (Math.random() < failShare) {
    setTimeout(() => res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable'), workTime())
    return
  }
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(healthPayload(name))
  }, workTime())
}

function listen (server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server.address().port))
  })
}

async function startService (name) {
  const server = http.createServer((req, res) => handleHealth(name, req, res))
  const port = await listen(server)
  return { name, url: `http://127.0.0.1:${port}/health`, server }
}

/** Starts the monitored services on free loopback ports. */
async function startServices (names = SERVICE_NAMES) {
  const services = await Promise.all(names.map(startService))
  return {
    services: services.map(({ name, url }) => ({ name, url })),
    close: () => Promise.all(services.map(closeServer))
  }
}

function closeServer ({ server }) {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

// Run alone (the demo forks this file), the services live in their own
// process, like the story's remote services, and leave the core's process and
// its RSS to the core.
async function main () {
  const { services } = await startServices()
  if (process.send) {
    process.send({ type: 'ready', services })
    process.on('disconnect', () => process.exit(0))
  } else {
    for (const service of services) console.log(`${service.name} health check on ${service.url}`)
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}

module.exports = { startServices, SERVICE_NAMES }
