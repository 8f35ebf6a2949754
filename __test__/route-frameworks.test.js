'use strict'
// /debug/handles mounted in real frameworks: Express 4 (npm alias express4),
// Express 5, fastify 5 and Koa 3 (@koa/router). Each mount is the code that
// docs/operations.md shows (the README shows the same code for Express
// and fastify), read from the docs and run as written, on a real server
// on 127.0.0.1 requested with fetch. Every format answers, and bad queries,
// other methods and relayed requests get the same answer as on plain
// node:http, and so do requests with a forged Host (DNS rebinding). The
// framework's other routes keep working, and the server closes.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const http = require('node:http')
const { once } = require('node:events')
const { setTimeout: sleep } = require('node:timers/promises')
const express4 = require('express4')
const express5 = require('express')
const Fastify = require('fastify')
const Koa = require('koa')
const Router = require('@koa/router')
const { HandleMap } = require('..')
const { debugHandles } = require('../http.js')
const { markerLines, escapeRegExp } = require('./support/source.js')

const lineOf = markerLines(__filename)
const PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const maps = []
after(() => { for (const map of maps) map.close() })

function leakyConnect (map, key) { map.set(key, { key }) } // @leakyConnect
function balancedConnect (map, key) { map.set(key, true) } // @balancedConnect

function leakingMap (name, leaked, balanced) {
  const map = new HandleMap({ name, callSites: 'all' })
  maps.push(map)
  for (let i = 0; i < leaked; i++) leakyConnect(map, `leak-${i}`)
  for (let i = 0; i < balanced; i++) {
    balancedConnect(map, `ok-${i}`)
    map.delete(`ok-${i}`)
  }
  return map
}

/** `fn (this file:line:col)`, with the line of the `// @fn` marker. */
function siteOf (fn) {
  return new RegExp(`^${escapeRegExp(fn)} \\(${escapeRegExp(__filename)}:${lineOf(fn)}:\\d+\\)$`)
}

// ---- the README's mounts -----------------------------------------------

const ROUTE_DOC = fs.readFileSync(path.join(__dirname, '..', 'docs', 'operations.md'), 'utf8')
const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')

/** The mount under its `// heading` comment, in the first code block after `sectionPattern`. */
function mountIn (text, sectionPattern, heading) {
  const section = text.slice(text.search(sectionPattern))
  const block = section.match(/```js\n([\s\S]*?)```/)
  assert.ok(block, `a code block follows ${sectionPattern}`)
  return block[1].split('\n\n').find(part => part.startsWith(`// ${heading}`))
}

/** The docs' mount for `heading`; the README, where it shows one, shows the same code. */
function readmeMount (heading) {
  const mount = mountIn(ROUTE_DOC, /^## The \/debug\/handles route/m, heading)
  assert.ok(mount, `docs/operations.md shows a mount under // ${heading}`)
  const inReadme = mountIn(README, /^## Mounting the route/m, heading)
  if (inReadme !== undefined) assert.equal(inReadme.trimEnd(), mount.trimEnd(), `README.md's mount under // ${heading} is the one tested`)
  return mount
}

/** Runs the README's mount for `heading` with `scope` as its free variables. */
function runReadmeMount (heading, scope) {
  // eslint-disable-next-line no-new-func
  new Function(...Object.keys(scope), readmeMount(heading))(...Object.values(scope))
}

// ---- servers -----------------------------------------------------------

/** `close()` runs once, however many times it is called. */
function closingOnce (close) {
  let closing = null
  return () => {
    closing = closing || close()
    return closing
  }
}

async function listen (server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    // No closeAllConnections(): server.close() ends idle keep-alive
    // connections only, so it resolves only if every response was finished.
    close: closingOnce(async () => {
      server.close()
      await once(server, 'close')
    })
  }
}

// Each framework gets a route before and after the debug route, answered by
// the framework itself, and its own 404 for an unknown path. What the
// framework reports as an error (or fastify logs as a warning) goes to
// `problems`.
// Express 4 and 5 mount the same README snippet the same way.
function expressFramework (major, express, version, leaked) {
  return {
    name: `Express ${major}`,
    map: `rf-express${major}`,
    leaked,
    version,
    major,
    async start (handler, problems) {
      const app = express()
      app.get('/before', (req, res) => res.json({ route: 'before' }))
      runReadmeMount('Express 4 and 5', { app, handler })
      app.get('/after', (req, res) => res.json({ route: 'after' }))
      app.use((error, req, res, next) => { problems.push(error); next(error) })
      return listen(http.createServer(app))
    }
  }
}

const FRAMEWORKS = [
  expressFramework(4, express4, require('express4/package.json').version, 3),
  expressFramework(5, express5, require('express/package.json').version, 4),
  {
    name: 'fastify 5',
    map: 'rf-fastify5',
    leaked: 5,
    version: require('fastify/package.json').version,
    major: 5,
    async start (handler, problems) {
      const logged = { write: line => problems.push(JSON.parse(line)) }
      const fastify = Fastify({ logger: { level: 'warn', stream: logged } })
      fastify.get('/before', async () => ({ route: 'before' }))
      runReadmeMount('fastify', { fastify, handler })
      fastify.get('/after', async () => ({ route: 'after' }))
      const url = await fastify.listen({ port: 0, host: '127.0.0.1' })
      return { url, close: closingOnce(() => fastify.close()) }
    }
  },
  {
    name: 'Koa 3',
    map: 'rf-koa3',
    leaked: 6,
    version: require('koa/package.json').version,
    major: 3,
    async start (handler, problems) {
      const app = new Koa()
      app.on('error', error => problems.push(error))
      app.use(async (ctx, next) => {
        if (ctx.path === '/before') ctx.body = { route: 'before' }
        else await next()
      })
      runReadmeMount('Koa', { app, Router, handler })
      app.use(ctx => {
        if (ctx.path === '/after') ctx.body = { route: 'after' }
      })
      return listen(http.createServer(app.callback()))
    }
  }
]

async function get (url, init) {
  const response = await fetch(url, init)
  return { status: response.status, headers: response.headers, body: await response.text() }
}

/** GET `url` with this Host header (fetch sends its own), answered as `get` answers. */
function getWithHost (url, host) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { host }, agent: false }, response => {
      const chunks = []
      response.on('data', chunk => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode, headers: new Headers(response.headers), body: Buffer.concat(chunks).toString() }))
    })
    request.on('error', reject)
  })
}

// The reference: the handler on plain node:http.
let plain
before(async () => { plain = await listen(http.createServer(debugHandles())) })
after(() => plain.close())

/** The answer of plain node:http to the same request. */
function plainAnswer (pathAndQuery, init) {
  return get(`${plain.url}${pathAndQuery}`, init)
}

function assertSameAnswer (actual, expected, what) {
  assert.equal(actual.status, expected.status, what)
  for (const header of ['content-type', 'content-length', 'allow', 'cache-control']) {
    assert.equal(actual.headers.get(header), expected.headers.get(header), `${what}: ${header}`)
  }
  assert.equal(actual.body, expected.body, what)
}

const BALANCED = 2

for (const framework of FRAMEWORKS) {
  test(`${framework.name}: the README mount answers every format, and as node:http does for bad requests`, { timeout: 60_000 }, async t => {
    assert.equal(Number(framework.version.split('.')[0]), framework.major, `${framework.name} is version ${framework.version}`)
    const { map: name, leaked } = framework
    leakingMap(name, leaked, BALANCED)
    // Judged at any age only past outlierFloorMs (1000 ms by default), and a
    // request cannot pass the option: let the leaked entries age first.
    await sleep(1100)
    const problems = []
    const server = await framework.start(debugHandles(), problems)
    t.after(() => server.close())
    const base = `${server.url}/debug/handles`

    await t.test('JSON: the map, its live count and the leaking site in this file', async () => {
      const json = await get(`${base}?format=json`)
      assert.equal(json.status, 200)
      assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8')
      assert.equal(json.headers.get('cache-control'), 'no-store')
      assert.equal(Number(json.headers.get('content-length')), Buffer.byteLength(json.body))
      const report = JSON.parse(json.body)
      const map = report.maps.find(reported => reported.name === name)
      assert.ok(map, `${name} is in the report`)
      assert.deepEqual([map.live, map.inserts, map.removes], [leaked, leaked + BALANCED, BALANCED])
      const leak = map.sites.find(site => site.suspect)
      assert.match(leak.site, siteOf('leakyConnect'))
      assert.equal(leak.live, leaked)
      const balanced = map.sites.find(site => !site.suspect)
      assert.match(balanced.site, siteOf('balancedConnect'))
      assert.equal(balanced.live, 0)

      const head = await get(`${base}?format=json`, { method: 'HEAD' })
      assert.equal(head.status, 200)
      assert.equal(head.headers.get('content-type'), 'application/json; charset=utf-8')
      assert.ok(Number(head.headers.get('content-length')) > 0, 'HEAD announces the length of the GET body')
      assert.equal(head.body, '')
    })

    await t.test('?format=prometheus: the live gauge of the map', async () => {
      const metrics = await get(`${base}?format=prometheus`)
      assert.equal(metrics.status, 200)
      assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
      assert.match(metrics.body, new RegExp(`^handle_ledger_live\\{map="${name}"\\} ${leaked}$`, 'm'))
    })

    await t.test('?format=html: the page with its Content-Security-Policy', async () => {
      const page = await get(`${base}?format=html&map=${name}`)
      assert.equal(page.status, 200)
      assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8')
      assert.equal(page.headers.get('content-security-policy'), PAGE_POLICY)
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer')
      assert.match(page.body, /^<!doctype html>/)
      assert.match(page.body, new RegExp(`<span class="map-name">${name}</span>`))
    })

    await t.test('?seconds=1: the diff, through the framework', async () => {
      const diff = await get(`${base}?format=json&map=${name}&seconds=1`)
      assert.equal(diff.status, 200)
      const body = JSON.parse(diff.body)
      assert.equal(body.kind, 'diff')
      assert.deepEqual(body.maps.map(map => [map.name, map.live, map.liveDelta]), [[name, leaked, 0]])
    })

    await t.test('a bad query is the same 400 as on node:http', async () => {
      for (const query of ['limit=abc', 'formt=json', 'format=xml', 'limit=5&limit=6']) {
        const answer = await get(`${base}?${query}`)
        assert.equal(answer.status, 400, query)
        assertSameAnswer(answer, await plainAnswer(`/debug/handles?${query}`), query)
      }
    })

    await t.test('POST, PUT and DELETE are the same 405 as on node:http', async () => {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const answer = await get(`${base}?format=json`, { method })
        assert.equal(answer.status, 405, method)
        assert.equal(answer.headers.get('allow'), 'GET, HEAD')
        assertSameAnswer(answer, await plainAnswer('/debug/handles?format=json', { method }), method)
      }
    })

    await t.test('a request relayed by a proxy is the same 403 as on node:http', async () => {
      for (const header of ['x-forwarded-for', 'forwarded', 'x-real-ip']) {
        const init = { headers: { [header]: '198.51.100.7' } }
        const answer = await get(`${base}?format=json`, init)
        assert.equal(answer.status, 403, header)
        assert.match(JSON.parse(answer.body).error, /loopback clients only/)
        assert.doesNotMatch(answer.body, new RegExp(`${name}|leakyConnect`))
        assertSameAnswer(answer, await plainAnswer('/debug/handles?format=json', init), header)
      }
    })

    await t.test('a forged Host (DNS rebinding) is the same 403 as on node:http; a loopback Host is answered', async () => {
      for (const host of ['rebind.attacker.example', 'attacker.example:3000', 'localhost.attacker.example']) {
        const answer = await getWithHost(`${base}?format=json`, host)
        assert.equal(answer.status, 403, host)
        assert.doesNotMatch(answer.body, new RegExp(`${name}|leakyConnect`))
        assertSameAnswer(answer, await getWithHost(`${plain.url}/debug/handles?format=json`, host), host)
      }
      for (const host of ['localhost', 'localhost:3000', '[::1]:8080']) {
        const answer = await getWithHost(`${base}?format=json&map=${name}`, host)
        assert.equal(answer.status, 200, host)
        assert.equal(JSON.parse(answer.body).maps[0].live, leaked)
      }
    })

    await t.test("the framework's own routes still answer, and the server closes", async () => {
      for (const route of ['before', 'after']) {
        const answer = await get(`${server.url}/${route}`)
        assert.equal(answer.status, 200, route)
        assert.match(answer.headers.get('content-type'), /^application\/json/)
        assert.deepEqual(JSON.parse(answer.body), { route })
      }
      const missing = await get(`${server.url}/no-such-route`)
      assert.equal(missing.status, 404, 'the framework answers unknown paths itself')
      assert.doesNotMatch(missing.body, /loopback|bad query|not allowed/)
      // Still the report after all that, and the server then closes with no
      // connection left busy (it would never resolve otherwise).
      assert.equal((await get(`${base}?format=json&map=${name}`)).status, 200)
      await server.close()
      assert.deepEqual(problems, [], `${framework.name} reported no error`)
    })
  })
}
