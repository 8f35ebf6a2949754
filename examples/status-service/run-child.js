'use strict'
// One run of the demo lives in this process (forked by scenario.js), so the
// RSS it reports is this run's alone. It starts the whole system on loopback
// and answers the parent over IPC:
//   { type: 'sample', sent }  -> { type: 'sample', sent, live, rss }
//   { type: 'finish' }        -> { type: 'result', report, log, ... } and exits

const { registry } = require('../../')
const { startSystem, ttlFromEnv } = require('./app.js')
const { regressionRequested, heldRequested } = require('./core.js')

const expiryLines = []

function sample (system, sent) {
  return { type: 'sample', sent, live: system.core.handleMap.size, rss: process.memoryUsage.rss() }
}

function retainedBytes () {
  const { heapUsed, external } = process.memoryUsage()
  return heapUsed + external
}

// A full GC first (when --expose-gc is on), so the last RSS shows what is
// retained rather than garbage not yet collected.
async function finish (system) {
  if (typeof global.gc === 'function') global.gc()
  system.core.expiryLog.flush()
  const report = registry.report({ map: 'core.handleMap', limit: 20 })
  const result = {
    type: 'result',
    report,
    rss: process.memoryUsage.rss(),
    // RSS seldom shrinks after a GC; heap + buffers in use says what is held.
    retained: retainedBytes(),
    expiredLogged: system.core.expiryLog.total(),
    log: expiryLines
  }
  await system.close()
  process.send(result, () => process.disconnect())
}

async function main () {
  const system = await startSystem({
    regression: regressionRequested(),
    held: heldRequested(),
    ttl: ttlFromEnv(),
    // Where scenario.js started the monitored services (their own process).
    services: process.env.STATUS_SERVICES ? JSON.parse(process.env.STATUS_SERVICES) : undefined,
    log: (line) => expiryLines.push(line)
  })
  process.on('message', (message) => {
    if (message.type === 'sample') process.send(sample(system, message.sent))
    if (message.type === 'finish') finish(system).catch(fail)
  })
  process.send({ type: 'ready', url: system.url, services: system.services.length, ttl: system.core.ttl, regression: system.core.regression })
}

function fail (error) {
  console.error(error)
  process.exit(1)
}

// Orphaned (the parent died): leave rather than keep the ports open.
process.on('disconnect', () => process.exit(0))

main().catch(fail)
