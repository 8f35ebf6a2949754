'use strict'
// Control: retries that re-insert the same key. Each order's context is kept
// under the order's id; a failed attempt (10% of calls) is retried with the
// context re-inserted under the same id, and the id is deleted when the
// order is done, whatever the outcome.

const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs, query, delay } = require('../io.js')
const { upstreamService } = require('../load.js')

const FAIL_SHARE = 0.1
const ATTEMPTS = 4
const BACKOFF_MS = 15

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const orders = new HandleMap({ name: 'zoo.order-attempts' })

  async function placeOrder (orderId) {
    try {
      for (let attempt = 1; ; attempt++) {
        orders.set(orderId, { attempt, startedAt: Date.now() })
        const outcome = Math.random() < FAIL_SHARE ? 'fail' : 'ok'
        const { status, body } = await get(agent, `${upstream.url}/${outcome}/${lognormalMs(5, 0.5)}`)
        if (status === 200 || attempt === ATTEMPTS) return body
        await delay(BACKOFF_MS * attempt)
      }
    } finally {
      orders.delete(orderId)
    }
  }

  const service = await serve({
    '/order': async (req, res) => res.end(await placeOrder(query(req, 'id')))
  })
  return upstreamService({ service, upstream, agent, path: i => `/order?id=order-${i}` })
}

module.exports = { kind: 'control', what: 'retries re-inserting the same key', p99Ms: 40, seconds: { bench: 20, test: 12 }, start }
