'use strict'
// Leak: an acquire() never released. Each lookup acquires its call's entry
// and releases it after the upstream answers; the cache-hit path returns
// early and never releases. The fix is the acquire line (`using`, or a
// finally): the report's insert site.

const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs } = require('../io.js')
const { upstreamService } = require('../load.js')

const CACHE_MS = 500

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const calls = new HandleMap({ name: 'zoo.lookups' })
  const cache = new Map()
  let lastId = 0

  async function lookup (sku) {
    const entry = calls.acquire(++lastId, { sku, startedAt: Date.now() }) // zoo:fix: the cache-hit return skips release()
    const cached = cache.get(sku)
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.body
    const { body } = await get(agent, `${upstream.url}/ok/${lognormalMs(5, 0.5)}`)
    entry.release()
    cache.set(sku, { body, at: Date.now() })
    return body
  }

  const service = await serve({
    '/item': async (req, res) => res.end(await lookup(new URL(req.url, 'http://x').searchParams.get('sku')))
  })
  // Skus from a wide range: about one lookup in 20 finds a fresh cached answer.
  return upstreamService({ service, upstream, agent, path: () => `/item?sku=${Math.floor(Math.random() * 1500)}` })
}

module.exports = { kind: 'leak', what: 'an acquire() never released (cache hits)', p99Ms: 20, seconds: { bench: 20, test: 14 }, start }
