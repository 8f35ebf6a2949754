'use strict'
// Leak: an error path at 5%. fetchQuote() throws on a failed upstream call
// before its delete; the other 95% of calls clean up. The fix is in
// fetchQuote (a finally): the report can name its insert line.

const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs } = require('../io.js')
const { upstreamService } = require('../load.js')

const FAIL_SHARE = 0.05

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const pending = new HandleMap({ name: 'zoo.quotes' })
  let lastId = 0

  async function fetchQuote (sku) {
    const id = ++lastId
    pending.set(id, { sku, startedAt: Date.now() }) // zoo:fix: the throw below skips the delete
    const outcome = Math.random() < FAIL_SHARE ? 'fail' : 'ok'
    const { status, body } = await get(agent, `${upstream.url}/${outcome}/${lognormalMs(5, 0.5)}`)
    if (status !== 200) throw new Error(`upstream answered ${status}`)
    pending.delete(id)
    return body
  }

  const service = await serve({
    '/quote': async (req, res) => res.end(await fetchQuote(req.url))
  })
  return upstreamService({ service, upstream, agent, path: i => `/quote?sku=${i % 300}` })
}

module.exports = { kind: 'leak', what: 'an error path (5% of calls)', p99Ms: 20, seconds: { bench: 20, test: 14 }, start }
