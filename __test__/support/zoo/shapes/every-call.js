'use strict'
// Leak: the cleanup lost on every call. Each lookup keeps its call's context
// in `calls` while it waits for the upstream; a refactor dropped the delete.

const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs } = require('../io.js')
const { upstreamService } = require('../load.js')

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const calls = new HandleMap({ name: 'zoo.every-call' })
  let lastId = 0

  async function lookup (sku) {
    const id = ++lastId
    calls.set(id, { sku, startedAt: Date.now() }) // zoo:fix: nothing deletes it (the delete after the reply was lost)
    const { body } = await get(agent, `${upstream.url}/ok/${lognormalMs(5, 0.5)}`)
    return body
  }

  const service = await serve({
    '/item': async (req, res) => res.end(await lookup(req.url))
  })
  return upstreamService({ service, upstream, agent, path: i => `/item?sku=${i % 500}` })
}

module.exports = { kind: 'leak', what: 'every call', p99Ms: 20, seconds: { bench: 20, test: 10 }, start }
