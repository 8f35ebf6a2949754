'use strict'
// Control: heavy-tailed latencies. Upstream calls take a lognormal time
// (median 4 ms, sigma 2: p99 ~0.4 s, p99.9 ~1.9 s, one in 10,000 past 8 s;
// capped at 30 s). Every call cleans up: nothing here leaks.

const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs } = require('../io.js')
const { upstreamService } = require('../load.js')

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const calls = new HandleMap({ name: 'zoo.search-calls' })
  let lastId = 0

  async function callUpstream (what) {
    const id = ++lastId
    calls.set(id, { what, startedAt: Date.now() })
    try {
      return (await get(agent, `${upstream.url}/ok/${lognormalMs(4, 2)}`)).body
    } finally {
      calls.delete(id)
    }
  }

  const service = await serve({
    '/search': async (req, res) => res.end(await callUpstream('search')),
    '/suggest': async (req, res) => res.end(await callUpstream('suggest'))
  })
  const routes = ['/search', '/suggest']
  return upstreamService({ service, upstream, agent, path: i => routes[i % 2] })
}

module.exports = { kind: 'control', what: 'heavy-tailed latencies (lognormal, p99.9 ~2 s)', p99Ms: 400, seconds: { bench: 45, test: 20 }, start }
