'use strict'
// Control: bursts after idle. Nothing for 4 s, then 300 requests per second
// for 1 s, again and again; every call cleans up.

const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs } = require('../io.js')
const { upstreamService } = require('../load.js')

const PERIOD_S = 5
const BURST_S = 1

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const calls = new HandleMap({ name: 'zoo.report-calls' })
  let lastId = 0

  async function callReports (what) {
    const id = ++lastId
    calls.set(id, { what, startedAt: Date.now() })
    try {
      return (await get(agent, `${upstream.url}/ok/${lognormalMs(8, 0.5)}`)).body
    } finally {
      calls.delete(id)
    }
  }

  const service = await serve({
    '/report': async (req, res) => res.end(await callReports(req.url))
  })
  const rate = t => (t % PERIOD_S >= PERIOD_S - BURST_S ? 300 : 0)
  return upstreamService({ service, upstream, agent, rate, path: i => `/report?n=${i}` })
}

module.exports = { kind: 'control', what: 'bursts after idle (4 s idle, 1 s at 300 req/s)', p99Ms: 30, seconds: { bench: 30, test: 15 }, start }
