'use strict'
// The Express server of the story: `/status` asks the core for the aggregated
// health of the monitored services; `/debug/handles` shows what the core's
// handleMap holds and who put it there.
//
//   node examples/status-service/app.js [--regression | --partial-regression] [--held]    (STATUS_TTL_MS=250 for a short TTL)

const express = require('express')
const { debugHandles } = require('../../http.js')
const { startServices } = require('./services.js')
const { createCore, regressionRequested, heldRequested, DEFAULT_TTL_MS } = require('./core.js')

function createApp ({ core }) {
  const app = express()
  app.get('/status', async function statusRoute (req, res) {
    const health = await core.checkAll()
    res.status(health.status === 'pass' ? 200 : 503).json(health)
  })
  app.get('/debug/handles', debugHandles())
  return app
}

function listen (app, port) {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, '127.0.0.1', (error) => (error ? reject(error) : resolve(server)))
  })
}

const NO_SERVICES_TO_CLOSE = { close: async () => {} }

/**
 * Starts core and app on loopback (`port` 0 picks a free one), and the
 * monitored services too unless `services` ([{ name, url }]) says where they run.
 */
async function startSystem ({ regression = false, held = false, ttl = DEFAULT_TTL_MS, port = 0, log = console.log, services } = {}) {
  const monitored = services === undefined ? await startServices() : { services, ...NO_SERVICES_TO_CLOSE }
  const core = createCore({ services: monitored.services, regression, held, ttl, log })
  const server = await listen(createApp({ core }), port)
  const url = `http://127.0.0.1:${server.address().port}`

  async function close () {
    await new Promise((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    core.close()
    await monitored.close()
  }

  return { url, core, services: monitored.services, close }
}

function ttlFromEnv (env = process.env) {
  const ttl = Number(env.STATUS_TTL_MS)
  return Number.isFinite(ttl) && ttl > 0 ? ttl : DEFAULT_TTL_MS
}

async function main () {
  const regression = regressionRequested()
  const held = heldRequested()
  const system = await startSystem({ regression, held, ttl: ttlFromEnv(), port: Number(process.env.PORT) || 3000 })
  console.log(`status service on ${system.url}/status (regression ${regression === 'partial' ? 'on failed calls' : regression ? 'ON' : 'off'}${held ? ', held: no delete to lose' : ''}, ttl ${system.core.ttl} ms)`)
  console.log(`handle report on ${system.url}/debug/handles`)
  process.once('SIGINT', () => system.close())
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}

module.exports = { createApp, startSystem, ttlFromEnv }
