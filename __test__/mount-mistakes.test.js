'use strict'
// Mistakes when mounting the route do not take the app down, in real
// Express 4 and 5, Koa 3 and fastify 5 over loopback: a factory mounted
// without being called (`app.use(handleLedgerExpress)`) answers as if called
// with no options; a handler mounted without a path (`app.use(debugHandles())`)
// answers its own path and passes every other request on; a plugin called
// instead of registered throws where it is called.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const express4 = require('express4')
const express5 = require('express')
const Fastify = require('fastify')
const Koa = require('koa')
const Router = require('@koa/router')
const { HandleMap } = require('..')
const { debugHandles, handleLedgerExpress, handleLedgerKoa, handleLedgerFastify } = require('../http.js')
const { listen } = require('./support/http.js')

const MAP = 'mount-mistakes'
const map = new HandleMap({ name: MAP, callSites: 'all' })
after(() => map.close())
map.set('leaked', 1)

async function get (url, init) {
  const response = await fetch(url, init)
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() }
}

/** `url` answers this process's report. */
async function assertReport (url) {
  const answer = await get(`${url}?format=json&map=${MAP}`)
  assert.equal(answer.status, 200, `${url}: ${answer.body}`)
  assert.deepEqual(JSON.parse(answer.body).maps.map(m => [m.name, m.live]), [[MAP, 1]], url)
}

/** `url` is the app's own route (or its own 404), never the report nor a 500. */
async function assertApp (url, status, body) {
  const answer = await get(url)
  assert.equal(answer.status, status, `${url}: ${answer.body}`)
  if (body !== undefined) assert.equal(answer.body, body, url)
  assert.doesNotMatch(answer.body, /mount-mistakes|has no option|loopback/, url)
}

for (const [label, express] of [['Express 4', express4], ['Express 5', express5]]) {
  test(`${label}: the factories mounted without being called, and debugHandles() mounted without a path`, async t => {
    for (const [mistake, mount] of [
      ['app.use(handleLedgerExpress)', app => app.use(handleLedgerExpress)],
      ['app.use(debugHandles)', app => app.use(debugHandles)],
      ['app.use(debugHandles())', app => app.use(debugHandles())]
    ]) {
      await t.test(mistake, async () => {
        const app = express()
        const errors = []
        app.get('/before', (req, res) => res.send('before'))
        mount(app)
        app.get('/after', (req, res) => res.send('after'))
        app.use((error, req, res, next) => { errors.push(error); next(error) })
        const server = await listen(app)
        try {
          await assertReport(`${server.url}/debug/handles`)
          await assertApp(`${server.url}/before`, 200, 'before')
          await assertApp(`${server.url}/after`, 200, 'after')
          await assertApp(`${server.url}/debug/handles/more`, 404)
          await assertApp(`${server.url}/nope`, 404)
          assert.deepEqual(errors, [])
        } finally {
          await server.close()
        }
      })
    }
    await t.test('debugHandles({ path }) without a mount path, and app.use(path, debugHandles())', async () => {
      const app = express()
      app.use(debugHandles({ path: '/handles' }))
      app.use('/ops/handles', debugHandles())
      app.get('/debug/handles', (req, res) => res.send('the app\'s own'))
      const server = await listen(app)
      try {
        await assertReport(`${server.url}/handles`)
        await assertReport(`${server.url}/ops/handles`)
        await assertApp(`${server.url}/debug/handles`, 200, 'the app\'s own')
      } finally {
        await server.close()
      }
    })
  })
}

test('node:http: debugHandles() and debugHandles (not called) answer their path, a 404 elsewhere', async () => {
  for (const handler of [debugHandles(), debugHandles]) {
    const server = await listen(handler)
    try {
      await assertReport(`${server.url}/debug/handles`)
      for (const path of ['/', '/metrics', '/debug/handles/x', '/debug/handlesx']) {
        const answer = await get(`${server.url}${path}`)
        assert.equal(answer.status, 404, path)
        assert.deepEqual(JSON.parse(answer.body), { error: 'not found: this handler answers /debug/handles' })
      }
    } finally {
      await server.close()
    }
  }
})

test('Koa 3: handleLedgerKoa and debugHandles mounted without being called, debugHandles() without a path, and on a router', async t => {
  for (const [mistake, mount] of [
    ['app.use(handleLedgerKoa)', app => app.use(handleLedgerKoa)],
    ['app.use(debugHandles)', app => app.use(debugHandles)],
    ['app.use(debugHandles())', app => app.use(debugHandles())],
    ['router.get(path, debugHandles())', app => {
      const router = new Router()
      router.get('/ops/handles', debugHandles())
      app.use(router.routes())
    }]
  ]) {
    await t.test(mistake, async () => {
      const app = new Koa()
      const errors = []
      app.on('error', error => errors.push(error))
      mount(app)
      app.use(ctx => { if (ctx.path === '/after') ctx.body = 'after' })
      const server = await listen(app.callback())
      try {
        await assertReport(`${server.url}${mistake.startsWith('router') ? '/ops/handles' : '/debug/handles'}`)
        await assertApp(`${server.url}/after`, 200, 'after')
        await assertApp(`${server.url}/nope`, 404)
        assert.deepEqual(errors, [])
      } finally {
        await server.close()
      }
    })
  }
})

test('fastify 5: a called plugin throws at mount time; handlers as routes and as a hook', async t => {
  await t.test('fastify.register(handleLedgerFastify()) throws where it is called', () => {
    for (const call of [() => handleLedgerFastify(), () => handleLedgerFastify({ path: '/x' })]) {
      assert.throws(call, { name: 'TypeError', message: /^handleLedgerFastify is a Fastify plugin: register it without calling it, fastify\.register\(handleLedgerFastify, / })
    }
  })
  for (const [mistake, mount, path] of [
    ['fastify.get(path, debugHandles())', app => app.get('/ops/handles', debugHandles()), '/ops/handles'],
    ['fastify.get(path, handleLedgerFastify)', app => app.get('/ops/plugin', handleLedgerFastify), '/ops/plugin'],
    ['fastify.addHook(\'onRequest\', debugHandles())', app => app.addHook('onRequest', debugHandles()), '/debug/handles']
  ]) {
    await t.test(mistake, async () => {
      const logged = []
      const app = Fastify({ logger: { level: 'warn', stream: { write: line => logged.push(JSON.parse(line)) } } })
      app.get('/after', async () => 'after')
      mount(app)
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      try {
        await assertReport(`${url}${path}`)
        await assertApp(`${url}/after`, 200, 'after')
        await assertApp(`${url}/nope`, 404)
        assert.deepEqual(logged, [])
      } finally {
        await app.close()
      }
    })
  }
})

test('a factory given a request alone (not a framework\'s whole call) throws a clear error', () => {
  const req = new http.IncomingMessage(null)
  req.method = 'GET'
  req.url = '/'
  for (const [factory, name] of [[debugHandles, 'debugHandles'], [handleLedgerExpress, 'handleLedgerExpress'], [handleLedgerKoa, 'handleLedgerKoa']]) {
    assert.throws(() => factory(req), { name: 'TypeError', message: new RegExp(`^${name}\\(options\\) was given a request as its options: mount what ${name}\\(\\) returns`) })
  }
})
