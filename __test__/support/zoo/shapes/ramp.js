'use strict'
// Control: a traffic ramp. Load climbs from 10 to 300 requests per second
// over the run, so the live count climbs with it; every call cleans up.

const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs } = require('../io.js')
const { upstreamService } = require('../load.js')

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const calls = new HandleMap({ name: 'zoo.catalog-calls' })
  let lastId = 0

  async function callCatalog (sku) {
    const id = ++lastId
    calls.set(id, { sku, startedAt: Date.now() })
    try {
      return (await get(agent, `${upstream.url}/ok/${lognormalMs(10, 0.6)}`)).body
    } finally {
      calls.delete(id)
    }
  }

  const service = await serve({
    '/catalog': async (req, res) => res.end(await callCatalog(req.url))
  })
  return upstreamService({ service, upstream, agent, rate: (t, seconds) => 10 + 290 * t / seconds, path: i => `/catalog?sku=${i % 400}` })
}

module.exports = { kind: 'control', what: 'a traffic ramp (10 to 300 req/s)', p99Ms: 40, seconds: { bench: 30, test: 14 }, start }
