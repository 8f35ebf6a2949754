'use strict'
// Leak: a timeout path at 1%. One upstream call in 100 never answers; the
// client gives up after TIMEOUT_MS and rejects, but only the answer path
// deletes the call's context.

const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs } = require('../io.js')
const { upstreamService } = require('../load.js')

const SILENT_SHARE = 0.01
const TIMEOUT_MS = 250

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const pending = new HandleMap({ name: 'zoo.inventory' })
  let lastId = 0

  function checkStock (sku) {
    const id = ++lastId
    pending.set(id, { sku, startedAt: Date.now() }) // zoo:fix: a timed-out call is never deleted
    const path = Math.random() < SILENT_SHARE ? '/never' : `/ok/${lognormalMs(8, 0.5)}`
    return get(agent, upstream.url + path, { timeout: TIMEOUT_MS }).then(({ body }) => {
      pending.delete(id)
      return body
    })
  }

  const service = await serve({
    '/stock': async (req, res) => res.end(await checkStock(req.url))
  })
  return upstreamService({ service, upstream, agent, rate: () => 200, path: i => `/stock?sku=${i % 300}` })
}

module.exports = { kind: 'leak', what: 'a timeout path (1% of calls)', p99Ms: 30, seconds: { bench: 30, test: 24 }, start }
