'use strict'
// The exported framework mounts against the real frameworks over loopback
// HTTP: handleLedgerFastify (fastify 5, registered with options and under a
// prefix, encapsulated), handleLedgerKoa (Koa 3) and handleLedgerExpress
// (Express 4 and 5, at the root and under a mount path). Each answers its
// path in every format, leaves the app's other routes alone, and passes the
// debugHandles options through.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { once } = require('node:events')
const express4 = require('express4')
const express5 = require('express')
const Fastify = require('fastify')
const Koa = require('koa')
const { HandleMap } = require('..')
const { handleLedgerFastify, handleLedgerKoa, handleLedgerExpress } = require('../http.js')

const MAP = 'plugins-jobs'
const map = new HandleMap({ name: MAP, callSites: 'all' })
after(() => map.close())
function leakyJob (key) { map.set(key, { key }) }
for (let i = 0; i < 3; i++) leakyJob(`job-${i}`)

async function serve (server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    async close () {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}

/** Asserts `url` answers this process's report (JSON, text, Prometheus) and HEAD. */
async function assertAnswers (url) {
  const json = await fetch(`${url}?format=json&map=${MAP}`)
  assert.equal(json.status, 200, url)
  assert.match(json.headers.get('content-type'), /^application\/json/)
  const report = await json.json()
  assert.equal(report.maps.length, 1)
  assert.equal(report.maps[0].live, 3)
  assert.match(report.maps[0].sites[0].site, /^leakyJob \(/)
  const text = await (await fetch(`${url}?format=text&map=${MAP}`)).text()
  assert.match(text, /plugins-jobs/)
  const metrics = await fetch(`${url}?format=prometheus&map=${MAP}`)
  assert.match(metrics.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  assert.match(await metrics.text(), /^handle_ledger_live\{map="plugins-jobs"\} 3$/m)
  const head = await fetch(`${url}?map=${MAP}`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  const bad = await fetch(`${url}?format=nope`)
  assert.equal(bad.status, 400)
}

async function assertOtherRoute (url, body) {
  const response = await fetch(url)
  assert.equal(response.status, 200)
  assert.equal(await response.text(), body)
}

test('fastify 5: registered with options and a prefix, encapsulated, the app routes untouched', async () => {
  const app = Fastify()
  app.get('/hello', async () => 'hi')
  let allowed = 0
  await app.register(handleLedgerFastify, { prefix: '/ops', path: '/handles', limit: 5, allow: req => { allowed++; return true } })
  await app.register(async function other (scope) {
    scope.get('/scoped', async () => String(scope.hasRoute({ method: 'GET', url: '/ops/handles' })))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${app.server.address().port}`
  try {
    await assertAnswers(`${url}/ops/handles`)
    assert.ok(allowed >= 5, 'the allow option reached the handler')
    await assertOtherRoute(`${url}/hello`, 'hi')
    assert.equal((await fetch(`${url}/debug/handles`)).status, 404, 'only the prefixed path')
    assert.equal((await fetch(`${url}/ops/handles`, { method: 'POST' })).status, 404, 'GET and HEAD only')
    assert.equal(app.hasPlugin('handle-ledger'), true, 'named as fastify-plugin names plugins')
  } finally {
    await app.close()
  }
})

test('fastify 5: the default path and a bad option rejected at register', async () => {
  const app = Fastify()
  await app.register(handleLedgerFastify)
  await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    await assertAnswers(`http://127.0.0.1:${app.server.address().port}/debug/handles`)
  } finally {
    await app.close()
  }
  const broken = Fastify()
  broken.register(handleLedgerFastify, { limt: 3 })
  await assert.rejects(broken.ready(), { name: 'TypeError', message: /handleLedgerFastify has no option 'limt'/ })
})

test('Koa 3: the middleware answers its path and passes everything else on', async () => {
  const app = new Koa()
  app.use(handleLedgerKoa({ sitesPerMap: 2 }))
  app.use(ctx => { ctx.body = `koa ${ctx.path}` })
  const server = await serve(http.createServer(app.callback()))
  try {
    await assertAnswers(`${server.url}/debug/handles`)
    await assertOtherRoute(`${server.url}/debug/handles2`, 'koa /debug/handles2')
    await assertOtherRoute(`${server.url}/`, 'koa /')
  } finally {
    await server.close()
  }
})

for (const [label, express] of [['Express 4', express4], ['Express 5', express5]]) {
  test(`${label}: the router at the root and under a mount path`, async () => {
    const app = express()
    app.use(handleLedgerExpress())
    app.use('/ops', handleLedgerExpress({ path: '/handles' }))
    app.get('/hello', (req, res) => res.send('hi'))
    const server = await serve(http.createServer(app))
    try {
      await assertAnswers(`${server.url}/debug/handles`)
      await assertAnswers(`${server.url}/ops/handles`)
      await assertOtherRoute(`${server.url}/hello`, 'hi')
      assert.equal((await fetch(`${server.url}/handles`)).status, 404)
      const post = await fetch(`${server.url}/debug/handles`, { method: 'POST' })
      assert.equal(post.status, 405)
      assert.equal(post.headers.get('allow'), 'GET, HEAD')
    } finally {
      await server.close()
    }
  })
}

test('the mounts validate their options', () => {
  assert.throws(() => handleLedgerExpress({ path: 'debug' }), { name: 'TypeError', message: /option 'path' must be a URL path/ })
  assert.throws(() => handleLedgerKoa({ path: '/x?y' }), { name: 'TypeError', message: /handleLedgerKoa option 'path'/ })
  assert.throws(() => handleLedgerKoa(null), { name: 'TypeError', message: /handleLedgerKoa options must be an object/ })
  assert.throws(() => handleLedgerExpress({ maxBytes: 1 }), { name: 'RangeError', message: /maxBytes/ })
})
