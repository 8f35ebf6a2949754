'use strict'
// Leak: a library's own map, through instrument(). json-rpc-2.0's client keeps
// each request's resolver in `idToResolveMap` until the response comes. The
// upstream treats `audit` as a notification (204, no response), so every
// audit made with request() stays pending: the line to fix is the app's
// request('audit') (it should be notify()).

const { JSONRPCClient } = require('json-rpc-2.0')
const { instrument } = require('../../../..')
const { serve, reply, postJson, readBody, keepAliveAgent, lognormalMs } = require('../io.js')
const { listen } = require('../../http.js')
const { upstreamService } = require('../load.js')

// The JSON-RPC upstream: price answers after a lognormal latency, audit is a notification.
function startRpcUpstream () {
  return listen(async (req, res) => {
    const call = JSON.parse(await readBody(req))
    if (call.method === 'audit') return reply(res, 204, '')
    setTimeout(() => {
      res.setHeader('content-type', 'application/json')
      reply(res, 200, JSON.stringify({ jsonrpc: '2.0', id: call.id, result: call.params.sku.length }))
    }, lognormalMs(5, 0.5))
  })
}

async function start () {
  const upstream = await startRpcUpstream()
  const agent = keepAliveAgent()
  const client = new JSONRPCClient(async payload => {
    const { status, body } = await postJson(agent, `${upstream.url}/rpc`, payload)
    if (status === 200) client.receive(JSON.parse(body))
  })
  instrument(client, 'idToResolveMap', { name: 'zoo.rpc-pending' })

  const service = await serve({
    '/price': async (req, res) => res.end(String(await client.request('price', { sku: req.url }))),
    '/checkout': (req, res) => {
      client.request('audit', { at: Date.now() }).catch(() => {}) // zoo:fix: audit is a notification: client.notify()
      res.end('ok')
    }
  })
  const routes = ['/price', '/price', '/checkout']
  return upstreamService({ service, upstream, agent, path: i => routes[i % routes.length] })
}

module.exports = { kind: 'leak', what: "a library's own map (instrument())", p99Ms: 20, seconds: { bench: 20, test: 14 }, start }
