'use strict'
// /debug/handles over real HTTP: plain node:http and Express 5 servers on
// 127.0.0.1, requested with fetch. Formats and negotiation, HEAD, 405, every
// bad query, the loopback guard and allow(), 500s, ?seconds=N deltas and the
// size bound.

const { test, before } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const vm = require('node:vm')
const { once } = require('node:events')
const { setTimeout: sleep } = require('node:timers/promises')
const express = require('express')
const { registry } = require('..')
const { debugHandles } = require('../http.js')
const { isLoopbackAddress } = require('../lib/http/guard.js')
const { negotiateFormat } = require('../lib/http/query.js')

const { newMap } = require('./support/maps.js')

// Two named insert sites: one leaks (never deleted), one cleans up.
function leakyInsert (map, key) { map.set(key, { socket: key }) }
function balancedInsert (map, key) { map.set(key, true) }

function fillOrders (name, leaked, balanced) {
  const map = newMap({ name, callSites: 'all' })
  for (let i = 0; i < leaked; i++) leakyInsert(map, `leak-${i}`)
  for (let i = 0; i < balanced; i++) {
    balancedInsert(map, `ok-${i}`)
    map.delete(`ok-${i}`)
  }
  return map
}

async function listen (server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  return {
    url: `http://127.0.0.1:${port}`,
    async close () {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}

function httpServer (handler) {
  return listen(http.createServer(handler))
}

function expressServer (handler) {
  const app = express()
  // app.all: every method reaches the handler, so other methods get its 405.
  app.all('/debug/handles', handler)
  return listen(http.createServer(app))
}

async function get (url, init) {
  const response = await fetch(url, init)
  return { status: response.status, headers: response.headers, body: await response.text() }
}

const orders = fillOrders('dh-orders', 7, 5)
// judged at any age only past outlierFloorMs (1000 ms by default), and a
// request cannot pass the option: let the fixture's entries age first.
before(() => sleep(1100))

test('every format on plain node:http, chosen by ?format or by the Accept header', async () => {
  const server = await httpServer(debugHandles())
  try {
    const base = `${server.url}/debug/handles`
    const json = await get(`${base}?format=json&map=dh-orders`)
    assert.equal(json.status, 200)
    assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.equal(json.headers.get('cache-control'), 'no-store')
    assert.equal(json.headers.get('vary'), null, 'an explicit format does not vary by Accept')
    const report = JSON.parse(json.body)
    assert.equal(report.maps.length, 1)
    const [map] = report.maps
    assert.deepEqual([map.name, map.live, map.inserts, map.removes], ['dh-orders', 7, 12, 5])
    assert.match(map.sites[0].site, /^leakyInsert \(/)
    assert.equal(map.sites[0].live, 7)
    assert.equal(map.sites[0].suspect, true)
    assert.equal(map.sites[1].suspect, false)

    const text = await get(`${base}?format=text&map=dh-orders`)
    assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8')
    assert.match(text.body, /^dh-orders {2}live=7 {2}inserts=12 {2}removes=5/)
    assert.match(text.body, /7 live \(7 in, 0 out\).*leakyInsert/)

    const page = await get(`${base}?format=html&map=dh-orders`)
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8')
    assert.match(page.headers.get('content-security-policy'), /default-src 'none'/)
    assert.match(page.body, /^<!doctype html>/)
    assert.match(page.body, /<span class="map-name">dh-orders<\/span>/)

    const metrics = await get(`${base}?format=prometheus&map=dh-orders`)
    assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
    assert.match(metrics.body, /^handle_ledger_live\{map="dh-orders"\} 7$/m)

    const byAccept = {
      'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8': 'text/html; charset=utf-8',
      'application/json': 'application/json; charset=utf-8',
      '*/*': 'text/plain; charset=utf-8',
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1': 'text/plain; version=0.0.4; charset=utf-8',
      'application/json;q=0.5, text/html;q=0.9': 'text/html; charset=utf-8',
      'text/html;q=0, application/json;q=0.1': 'application/json; charset=utf-8'
    }
    for (const [accept, contentType] of Object.entries(byAccept)) {
      const negotiated = await get(`${base}?map=dh-orders`, { headers: { accept } })
      assert.equal(negotiated.status, 200)
      assert.equal(negotiated.headers.get('content-type'), contentType, `Accept: ${accept}`)
      assert.equal(negotiated.headers.get('vary'), 'Accept')
    }
  } finally {
    await server.close()
  }
})

test('negotiateFormat: curl and missing Accept get text', () => {
  assert.equal(negotiateFormat(undefined), 'text')
  assert.equal(negotiateFormat('*/*'), 'text')
  assert.equal(negotiateFormat('text/plain'), 'text')
  assert.equal(negotiateFormat('text/plain;version=0.0.4'), 'prometheus')
  assert.equal(negotiateFormat('image/png'), 'text')
})

test('an Express 5 route: every format, HEAD without a body, 405 with Allow', async () => {
  const server = await expressServer(debugHandles())
  try {
    const base = `${server.url}/debug/handles`
    const expected = {
      json: 'application/json; charset=utf-8',
      text: 'text/plain; charset=utf-8',
      html: 'text/html; charset=utf-8',
      prometheus: 'text/plain; version=0.0.4; charset=utf-8'
    }
    for (const [format, contentType] of Object.entries(expected)) {
      const response = await get(`${base}?format=${format}&map=dh-orders`)
      assert.equal(response.status, 200, format)
      assert.equal(response.headers.get('content-type'), contentType)
      assert.match(response.body, /dh-orders/)
      assert.equal(Number(response.headers.get('content-length')), Buffer.byteLength(response.body))

      const head = await get(`${base}?format=${format}&map=dh-orders`, { method: 'HEAD' })
      assert.equal(head.status, 200, `HEAD ${format}`)
      assert.equal(head.headers.get('content-type'), contentType)
      assert.ok(Number(head.headers.get('content-length')) > 0, 'HEAD announces the length of the GET body')
      assert.equal(head.body, '')
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const refused = await get(`${base}?format=json`, { method })
      assert.equal(refused.status, 405, method)
      assert.equal(refused.headers.get('allow'), 'GET, HEAD')
      assert.match(JSON.parse(refused.body).error, new RegExp(`method ${method} not allowed`))
    }
  } finally {
    await server.close()
  }
})

const BAD_QUERIES = {
  'format=xml': /unknown format "xml"/,
  'format=': /unknown format ""/,
  'format=JSON': /unknown format "JSON"/,
  'limit=0': /'limit' must be an integer from 1 to 1000, got "0"/,
  'limit=-1': /'limit' must be an integer/,
  'limit=1.5': /'limit' must be an integer/,
  'limit=abc': /'limit' must be an integer/,
  'limit=1e3': /'limit' must be an integer/,
  'limit=01': /'limit' must be an integer/,
  'limit=1001': /'limit' must be an integer from 1 to 1000/,
  'limit=99999999999999999999': /'limit' must be an integer/,
  'limit=': /'limit' must be an integer/,
  'seconds=0': /'seconds' must be an integer from 1 to 60/,
  'seconds=61': /'seconds' must be an integer from 1 to 60/,
  'seconds=-5': /'seconds' must be an integer/,
  'seconds=2.5': /'seconds' must be an integer/,
  'seconds=soon': /'seconds' must be an integer/,
  'seconds=5&format=prometheus': /'seconds' does not apply to format=prometheus/,
  'map=': /'map' must be a map name of 1 to 200 characters/,
  [`map=${'m'.repeat(201)}`]: /'map' must be a map name/,
  'formt=json': /unknown query parameter "formt"/,
  'limit=5&limit=6': /'limit' given more than once/
}

test('every bad query is a 400 with a short JSON error, on node:http and Express', async () => {
  for (const start of [httpServer, expressServer]) {
    const server = await start(debugHandles())
    try {
      for (const [query, message] of Object.entries(BAD_QUERIES)) {
        const response = await get(`${server.url}/debug/handles?${query}`)
        assert.equal(response.status, 400, query)
        assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8')
        const { error } = JSON.parse(response.body)
        assert.match(error, message, query)
        assert.ok(response.body.length < 300, `short error for ${query}`)
      }
    } finally {
      await server.close()
    }
  }
})

test('?map= and ?limit= filter and bound every format', async () => {
  const wide = newMap({ name: 'dh-wide', callSites: 'all' })
  const inserters = Array.from({ length: 6 }, (_, i) =>
    vm.runInThisContext(`(function wideSite${i} (map, key) { map.set(key, 1) })`, { filename: `wide-${i}.js` }))
  inserters.forEach((insert, i) => { for (let n = 0; n <= i; n++) insert(wide, `${i}-${n}`) })
  const server = await httpServer(debugHandles())
  try {
    const base = `${server.url}/debug/handles?map=dh-wide&limit=2`
    const report = JSON.parse((await get(`${base}&format=json`)).body)
    assert.deepEqual(report.maps.map(map => map.name), ['dh-wide'])
    assert.deepEqual(report.maps[0].sites.map(site => site.site.split(' ')[0]), ['wideSite5', 'wideSite4'])
    assert.equal(report.maps[0].sitesOmitted, 4)

    const text = (await get(`${base}&format=text`)).body
    assert.doesNotMatch(text, /dh-orders/)
    assert.equal(text.match(/wideSite\d/g).length, 2)
    assert.match(text, /\.\.\. 4 more sites/)

    const page = (await get(`${base}&format=html`)).body
    assert.doesNotMatch(page, /dh-orders/)
    assert.equal(page.match(/<tr class="site/g).length, 2)
    assert.match(page, /4 more sites not shown/)

    const metrics = (await get(`${base}&format=prometheus`)).body
    assert.doesNotMatch(metrics, /dh-orders/)
    assert.equal(metrics.match(/^handle_ledger_site_live\{/gm).length, 2)

    const none = JSON.parse((await get(`${server.url}/debug/handles?map=no-such-map&format=json`)).body)
    assert.deepEqual(none.maps, [])
  } finally {
    await server.close()
  }
})

test('isLoopbackAddress: 127/8, ::1 and IPv4-mapped loopback only', () => {
  for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.1']) assert.equal(isLoopbackAddress(address), true, address)
  for (const address of ['10.0.0.1', '192.168.1.10', '::ffff:10.0.0.1', '2001:db8::1', '0.0.0.0', '128.0.0.1', '', undefined, '127.0.0.1.evil']) {
    assert.equal(isLoopbackAddress(address), false, String(address))
  }
})

// A real server whose sockets claim a remote peer: the only way to be a
// non-loopback client while staying on loopback.
function asRemotePeer (handler, address = '203.0.113.9') {
  return (req, res) => {
    Object.defineProperty(req.socket, 'remoteAddress', { value: address, configurable: true })
    return handler(req, res)
  }
}

test('the guard: loopback clients only by default; allow(req) replaces the rule', async () => {
  const servers = []
  try {
    const local = await httpServer(debugHandles())
    const remote = await httpServer(asRemotePeer(debugHandles()))
    const withToken = await expressServer(asRemotePeer(debugHandles({ allow: req => req.headers.authorization === 'Bearer s3cret' })))
    const asyncAllow = await httpServer(debugHandles({ allow: async req => req.headers['x-debug'] === 'yes' }))
    const truthyNotTrue = await httpServer(debugHandles({ allow: () => 'yes' }))
    servers.push(local, remote, withToken, asyncAllow, truthyNotTrue)

    assert.equal((await get(`${local.url}/debug/handles?format=json`)).status, 200)
    for (const header of ['x-forwarded-for', 'forwarded', 'x-real-ip']) {
      const relayed = await get(`${local.url}/debug/handles?format=json`, { headers: { [header]: '198.51.100.7' } })
      assert.equal(relayed.status, 403, `a request relayed by a proxy (${header}) is not a loopback client`)
    }
    const refused = await get(`${remote.url}/debug/handles?format=json&map=dh-orders`)
    assert.equal(refused.status, 403)
    assert.match(JSON.parse(refused.body).error, /loopback clients only/)
    assert.doesNotMatch(refused.body, /dh-orders|leakyInsert/)
    assert.equal((await get(`${remote.url}/debug/handles?format=nonsense`)).status, 403, 'the guard answers before the query is looked at')
    assert.equal((await get(`${remote.url}/debug/handles`, { method: 'POST' })).status, 403)

    assert.equal((await get(`${withToken.url}/debug/handles?format=json`)).status, 403)
    const allowed = await get(`${withToken.url}/debug/handles?format=json&map=dh-orders`, { headers: { authorization: 'Bearer s3cret' } })
    assert.equal(allowed.status, 200, 'allow() replaces the loopback rule, remote peer or not')
    assert.equal(JSON.parse(allowed.body).maps[0].live, 7)

    assert.equal((await get(`${asyncAllow.url}/debug/handles`)).status, 403)
    assert.equal((await get(`${asyncAllow.url}/debug/handles`, { headers: { 'x-debug': 'yes' } })).status, 200)
    assert.equal((await get(`${truthyNotTrue.url}/debug/handles`)).status, 403, 'only true opens the door')
  } finally {
    for (const server of servers) await server.close()
  }
})

test('an exception while building the report is a 500, logged once, and the server keeps serving', async () => {
  const logged = []
  const handler = debugHandles({ onError: error => logged.push(error) })
  const throwingAllow = debugHandles({ onError: error => logged.push(error), allow: () => { throw new Error('token store down') } })
  const server = await expressServer(handler)
  const other = await httpServer(throwingAllow)
  const report = registry.report
  try {
    registry.report = () => { throw new Error('ledger exploded') }
    for (const format of ['json', 'text', 'html', 'prometheus', 'json']) {
      const response = await get(`${server.url}/debug/handles?format=${format}`)
      assert.equal(response.status, 500, format)
      assert.match(JSON.parse(response.body).error, /internal error/)
      assert.doesNotMatch(response.body, /exploded/, 'the exception is logged, not sent')
    }
    assert.equal(logged.length, 1, 'five failures, one log line')
    assert.equal(logged[0].message, 'ledger exploded')
    registry.report = report
    const recovered = await get(`${server.url}/debug/handles?format=json&map=dh-orders`)
    assert.equal(recovered.status, 200)
    assert.equal(JSON.parse(recovered.body).maps[0].live, 7)

    assert.equal((await get(`${other.url}/debug/handles`)).status, 500)
    assert.equal((await get(`${other.url}/debug/handles`)).status, 500)
    assert.deepEqual(logged.map(error => error.message), ['ledger exploded', 'token store down'])
  } finally {
    registry.report = report
    await server.close()
    await other.close()
  }
})

// Runs `action` once the handler has taken the first snapshot of a
// ?seconds=N window: timers fire in order, so it lands inside the window
// however slow the machine is.
function duringTheWindow (action) {
  const snapshot = registry.snapshot
  registry.snapshot = function firstSnapshot (...args) {
    registry.snapshot = snapshot
    const taken = snapshot.apply(registry, args)
    setTimeout(action, 50)
    return taken
  }
}

test('?seconds=N answers with what changed during those N seconds', async () => {
  const growing = newMap({ name: 'dh-growing', callSites: 'all' })
  leakyInsert(growing, 'before')
  const server = await httpServer(debugHandles())
  try {
    const base = `${server.url}/debug/handles?map=dh-growing&seconds=1`
    const started = Date.now()
    duringTheWindow(() => { for (let i = 0; i < 4; i++) leakyInsert(growing, `during-${i}`) })
    const response = await get(`${base}&format=json`)
    assert.ok(Date.now() - started >= 950, 'the answer waits for the window')
    assert.equal(response.status, 200)
    const diff = JSON.parse(response.body)
    assert.equal(diff.kind, 'diff')
    assert.ok(diff.durationMs >= 950 && diff.durationMs < 5000, String(diff.durationMs))
    assert.equal(diff.maps.length, 1)
    assert.deepEqual([diff.maps[0].live, diff.maps[0].liveDelta, diff.maps[0].insertsDelta], [5, 4, 4])
    assert.match(diff.maps[0].sites[0].site, /^leakyInsert/)
    assert.equal(diff.maps[0].sites[0].liveDelta, 4)

    duringTheWindow(() => leakyInsert(growing, 'text-window'))
    const text = await get(`${base}&format=text`)
    assert.match(text.body, /^handle-ledger diff over \d+(\.\d)? m?s/)
    assert.match(text.body, /\+1 live \(\+1 in, 0 out\).*leakyInsert/)

    duringTheWindow(() => leakyInsert(growing, 'page-window'))
    const page = await get(`${base}&format=html`)
    assert.match(page.body, /what changed over \d+(\.\d)? m?s/)
    assert.match(page.body, /<td class="num live-delta">\+1<\/td>/)
  } finally {
    await server.close()
  }
})

test('a client that leaves during ?seconds=N costs nothing and the server goes on', async () => {
  let built = 0
  const client = new AbortController()
  const snapshot = registry.snapshot
  registry.snapshot = (...args) => {
    if (++built === 1) setTimeout(() => client.abort(), 50) // leave once the window has started
    return snapshot.apply(registry, args)
  }
  const server = await httpServer(debugHandles())
  try {
    const aborted = fetch(`${server.url}/debug/handles?seconds=2&format=json`, { signal: client.signal })
    await assert.rejects(aborted, { name: 'AbortError' })
    await new Promise(resolve => setTimeout(resolve, 2300))
    assert.equal(built, 1, 'no second snapshot for a client that left')
    assert.equal((await get(`${server.url}/debug/handles?format=json`)).status, 200)
  } finally {
    registry.snapshot = snapshot
    await server.close()
  }
})

test('the response is bounded in size whatever the number of sites and entries', async () => {
  const crowded = newMap({ name: 'dh-crowded', callSites: 'all' })
  const longName = 'aVeryLongFunctionNameThatMakesEverySiteHeavy'.repeat(20)
  for (let i = 0; i < 300; i++) {
    const insert = vm.runInThisContext(`(function ${longName}${i} (map, key) { map.set(key, 1) })`, { filename: `crowded-${i}.js` })
    for (let n = 0; n < 100; n++) insert(crowded, `${i}:${n}`) // 30,000 entries
  }
  const hugeFile = vm.runInThisContext('(function hugeFileSite (map) { map.set("huge", 1) })', { filename: 'x'.repeat(50_000) + '.js' })
  hugeFile(crowded)
  const maxBytes = 16 * 1024
  const server = await httpServer(debugHandles({ maxBytes, limit: 1000 }))
  try {
    for (const format of ['json', 'text', 'html', 'prometheus']) {
      const response = await get(`${server.url}/debug/handles?format=${format}&limit=1000`)
      assert.equal(response.status, 200, format)
      assert.ok(Buffer.byteLength(response.body) <= maxBytes, `${format}: ${Buffer.byteLength(response.body)} bytes`)
    }
    const report = JSON.parse((await get(`${server.url}/debug/handles?format=json&map=dh-crowded&limit=1000`)).body)
    const [map] = report.maps
    assert.equal(report.truncated, true)
    assert.equal(map.live, 30_001)
    assert.ok(map.sites.length >= 1 && map.sites.length < 300)
    assert.equal(map.sites.length + map.sitesOmitted, 301, 'what was left out is counted')

    const defaults = await httpServer(debugHandles())
    try {
      const bounded = JSON.parse((await get(`${defaults.url}/debug/handles?format=json&map=dh-crowded`)).body)
      assert.equal(bounded.maps[0].sites.length, 20, 'default limit: 20 sites per map')
      assert.equal(bounded.maps[0].sitesOmitted, 281)
      const all = JSON.parse((await get(`${defaults.url}/debug/handles?format=json&map=dh-crowded&limit=1000`)).body)
      const huge = all.maps[0].sites.find(site => site.site.startsWith('hugeFileSite'))
      assert.ok(huge.site.length <= 1000, 'a 50 kB site string is cut to 1000 characters')
      assert.ok(huge.stack.every(frame => frame.length <= 1000))
    } finally {
      await defaults.close()
    }
  } finally {
    await server.close()
  }
})

test('debugHandles() rejects unknown and invalid options', () => {
  assert.throws(() => debugHandles({ alow: () => true }), { name: 'TypeError', message: /no option 'alow'/ })
  assert.throws(() => debugHandles({ allow: true }), { name: 'TypeError', message: /'allow' must be a function/ })
  assert.throws(() => debugHandles({ limit: -1 }), { name: 'RangeError', message: /'limit'/ })
  assert.throws(() => debugHandles({ maxBytes: 10 }), { name: 'RangeError', message: /'maxBytes'/ })
  assert.throws(() => debugHandles({ sitesPerMap: 1000 }), { name: 'RangeError', message: /'sitesPerMap'/ })
  assert.throws(() => debugHandles({ includeKeys: 'yes' }), { name: 'TypeError', message: /'includeKeys'/ })
  assert.throws(() => debugHandles(null), { name: 'TypeError' })
})

// Also what keeps `orders` reachable until the last request: a collected map
// leaves the registry, and the route would no longer list it.
test('the fixture map served every request above unchanged: requests never alter a map', () => {
  assert.equal(orders.size, 7)
  const report = orders.report()
  assert.deepEqual([report.live, report.inserts, report.removes], [7, 12, 5])
})
