'use strict'
// instrument(): a real client library's pending-request Map (json-rpc-2.0's
// JSONRPCClient keeps each request's resolver in `idToResolveMap` until its
// response arrives) swapped for a HandleMap. The app's transport drops failed
// responses, so those requests stay pending for ever; over real loopback HTTP
// the text report leads from the library's line to the app's own line.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { setTimeout: sleep } = require('node:timers/promises')
const express = require('express')
const { JSONRPCClient, JSONRPCServer } = require('json-rpc-2.0')
const { HandleMap, registry, formatReport, instrument, uninstrument, setAppFrame } = require('..')
const { appFrameOf } = require('../lib/map/app-frame.js')
const { renderReportPage, escapeHtml } = require('../lib/http/html.js')
const { listen } = require('./support/http.js')

function lineOf (marker) {
  const lines = fs.readFileSync(__filename, 'utf8').split('\n')
  const at = lines.findIndex(line => line.includes(marker) && !line.includes('lineOf('))
  assert.ok(at >= 0, marker)
  return `instrument.test.js:${at + 1}:`
}

// A JSON-RPC server: price answers; audit fails with HTTP 500 one call in 4.
async function rpcServer () {
  const rpc = new JSONRPCServer()
  rpc.addMethod('price', ({ sku }) => sku.length)
  let audits = 0
  rpc.addMethod('audit', () => true)
  const app = express()
  app.use(express.json())
  app.post('/rpc', async (req, res) => {
    if (req.body.method === 'audit' && ++audits % 4 === 0) {
      res.status(500).end()
      return
    }
    const response = await rpc.receive(req.body)
    res.json(response)
  })
  return listen(app)
}

function newClient (url) {
  const client = new JSONRPCClient(async payload => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) })
    // The app's bug: a failed call is dropped, its request left pending.
    if (response.status === 200) client.receive(await response.json())
  })
  return client
}

test('instrument(): a library\'s pending requests lead to the app\'s own line', async () => {
  const upstream = await rpcServer()
  const client = newClient(`${upstream.url}/rpc`)
  client.idToResolveMap.set(9999, () => {}) // one request pending before instrument()
  const original = client.idToResolveMap
  const pending = instrument(client, 'idToResolveMap', { name: 'rpc-pending', callSites: 'all', clock: Date.now })
  assert.ok(pending instanceof HandleMap)
  assert.equal(client.idToResolveMap, pending)
  assert.equal(pending.adopted, 1)
  assert.equal(pending.size, 1)

  const app = express()
  app.get('/price/:sku', async (req, res) => {
    res.json(await client.request('price', { sku: req.params.sku })) // price call
  })
  app.get('/checkout', (req, res) => {
    client.request('audit', {}).catch(() => {}) // audit call
    res.end('ok')
  })
  const server = await listen(app)
  try {
    for (let i = 0; i < 300; i++) {
      const path = i % 2 === 0 ? `/price/sku${i}` : '/checkout'
      await (await fetch(server.url + path)).text()
    }
    await sleep(100) // the last audits' responses
    const options = { map: 'rpc-pending', outlierFloorMs: 300 }
    let report
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
      report = registry.report(options)
      const site = report.maps[0].sites.find(s => s.inDependency)
      if (site && site.verdict && site.verdict.rule === 'outliers' && site.verdict.count === 37) break
    }
    const map = report.maps[0]
    assert.equal(report.schemaVersion, 2)
    assert.equal(map.live, 1 + 37, 'the adopted request and 37 dropped audits are pending')
    const site = map.sites.find(s => s.inDependency)
    assert.ok(site, formatReport(report))
    assert.match(site.site, /node_modules\/json-rpc-2\.0\/dist\/client\.js:\d+:\d+\)$/)
    assert.ok(site.appFrame.includes(lineOf('// audit call')), site.appFrame)
    assert.equal(site.suspect, true)
    assert.match(site.reason, /^37 live entries of caller <anonymous> \(.*instrument\.test\.js:\d+:\d+\) are older than /)
    const [audit, price] = site.callers
    assert.ok(audit.appFrame.includes(lineOf('// audit call')), audit.appFrame)
    assert.ok(price.appFrame.includes(lineOf('// price call')), price.appFrame)
    assert.deepEqual([audit.suspect, price.suspect], [true, false])
    assert.deepEqual([audit.inserts, audit.removes, price.inserts, price.removes], [150, 113, 150, 150])
    // Each caller row is named by its own app line, where the two stacks part.
    assert.ok(audit.label.includes(lineOf('// audit call')), audit.label)
    assert.ok(price.label.includes(lineOf('// price call')), price.label)
    assert.ok(site.reason.includes(audit.label), site.reason)
    // The adopted entry has a site of its own that says where it came from.
    const adopted = map.sites.find(s => s.site.startsWith('adopted (handle-ledger/adopted-entries-insert-site-unknown:'))
    assert.ok(adopted && adopted.live === 1, formatReport(report))

    // The text report and the page name the dependency's line with how many
    // app callers reach it, and each app line on its caller row.
    const text = formatReport(report)
    const siteLine = text.split('\n').find(line => line.includes('in a dependency'))
    assert.ok(siteLine, text)
    assert.match(siteLine, /<anonymous> \(node_modules\/json-rpc-2\.0\/dist\/client\.js:\d+:\d+\) \(in a dependency, reached from 2 app callers\)$/)
    const callerLines = text.split('\n').filter(line => line.startsWith('       caller '))
    assert.equal(callerLines.length, 2, text)
    assert.ok(callerLines[0].includes(lineOf('// audit call')) && callerLines[0].endsWith('SUSPECT'), text)
    assert.ok(callerLines[1].includes(lineOf('// price call')) && !callerLines[1].includes('SUSPECT'), text)
    const page = renderReportPage(report)
    assert.ok(page.includes('(in a dependency, reached from 2 app callers)'), 'the page names the library line and its app callers')
    assert.ok(page.includes(escapeHtml(`from ${audit.label.replace(process.cwd() + '/', '')}`)), 'the page names the audit caller by its line')

    // A predicate can say which frames are the app's: here none but the price route's.
    setAppFrame(frame => frame.includes(lineOf('// price call')))
    try {
      assert.equal(appFrameOf(audit.stack).appFrame, null)
      assert.ok(appFrameOf(price.stack).appFrame.includes(lineOf('// price call')))
    } finally {
      setAppFrame(null)
    }
    assert.throws(() => setAppFrame(42), TypeError)
    assert.throws(() => setAppFrame({ ignore: [42] }), TypeError)
  } finally {
    await server.close()
    await upstream.close()
  }

  // Undo: the original Map is back, with what is pending now.
  const restored = uninstrument(client, 'idToResolveMap')
  assert.equal(restored, original)
  assert.equal(client.idToResolveMap, original)
  assert.equal(original.size, 1 + 37)
  assert.ok(!registry.report().maps.some(m => m.name === 'rpc-pending'), 'the HandleMap left the registry')
  assert.throws(() => uninstrument(client, 'idToResolveMap'), TypeError)
})

test('instrument(): bad input is a TypeError naming what was expected', () => {
  assert.throws(() => instrument(null, 'x'), /object must be an object/)
  assert.throws(() => instrument({}, 42), /property must be a string or a symbol/)
  assert.throws(() => instrument({ m: {} }, 'm'), /Object\.m must be a Map, got object/)
  assert.throws(() => instrument({ m: new Map() }, 'm', null), /options must be an object/)
  const frozen = Object.freeze({ m: new Map() })
  assert.throws(() => instrument(frozen, 'm'), /not a writable data property/)
  const holder = { m: new Map([[1, 'a']]) }
  const map = instrument(holder, 'm', { name: 'instrument-twice' })
  try {
    assert.throws(() => instrument(holder, 'm'), /already a HandleMap/)
    assert.throws(() => instrument(holder, 'm', { ttl: -1 }), TypeError)
    assert.equal(map.get(1), 'a')
  } finally {
    uninstrument(holder, 'm')
  }
  assert.throws(() => instrument({ m: new Map() }, 'm', { nope: 1 }), TypeError)
})

// A library whose pending map is a Map subclass with methods of its own and an
// overridden set(): swapping in a HandleMap would break its next call and
// silently stop the override.
class PendingMap extends Map {
  constructor () {
    super()
    this.sets = 0
  }

  set (key, value) {
    this.sets++
    return super.set(key, value)
  }

  settle (key, value) {
    const resolve = this.get(key)
    this.delete(key)
    resolve(value)
  }
}

class SubclassClient {
  constructor () { this.pending = new PendingMap() }
  call (id) { return new Promise(resolve => this.pending.set(id, resolve)) }
  answer (id, value) { this.pending.settle(id, value) }
}

test('instrument(): a Map subclass is refused, the library keeps its own map and works on', async () => {
  const client = new SubclassClient()
  const first = client.call(1)
  const original = client.pending
  assert.throws(() => instrument(client, 'pending', { name: 'instrument-subclass' }),
    { name: 'TypeError', message: /^instrument\(\): SubclassClient\.pending is a PendingMap \(a Map subclass\), not a plain Map: .* cannot be swapped$/ })
  assert.equal(client.pending, original)
  assert.ok(!registry.report().maps.some(m => m.name === 'instrument-subclass'), 'no HandleMap was left registered')
  const second = client.call(2)
  client.answer(1, 'one')
  client.answer(2, 'two')
  assert.deepEqual(await Promise.all([first, second]), ['one', 'two'])
  assert.equal(original.sets, 2, 'the override ran for every set')
  assert.throws(() => uninstrument(client, 'pending'), /was not instrumented/)
})

test('instrument(): anything not exactly a Map is refused (a Proxy of a Map, another realm\'s Map, a null-prototype Map)', () => {
  const vm = require('node:vm')
  const bare = new Map()
  Object.setPrototypeOf(bare, null)
  for (const [value, message] of [
    [new Proxy(new Map(), {}), /Object\.m must be a Map, got a Proxy/],
    [vm.runInNewContext('new Map()'), /Object\.m is a Map of another realm, not a plain Map/],
    [bare, /Object\.m is a Map with another prototype, not a plain Map/],
    [null, /Object\.m must be a Map, got null/]
  ]) {
    const holder = { m: value }
    assert.throws(() => instrument(holder, 'm'), { name: 'TypeError', message })
    assert.equal(holder.m, value)
  }
})

// A library that drops its pending map on a reset (or a reconnect) and starts a new one.
class ResettingClient {
  constructor () { this.pending = new Map() }
  call (id) { this.pending.set(id, `request ${id}`) }
  reset () { this.pending = new Map() }
}

test('uninstrument(): when the library replaced its map meanwhile, its new map stays', () => {
  const client = new ResettingClient()
  const original = client.pending
  client.call(1)
  const handleMap = instrument(client, 'pending', { name: 'instrument-reset' })
  client.call(2)
  client.reset()
  client.call(3)
  client.call(4)
  const current = client.pending
  assert.equal(uninstrument(client, 'pending'), current, 'returns what the property holds')
  assert.equal(client.pending, current, 'the library\'s new map was not replaced')
  assert.deepEqual([...client.pending], [[3, 'request 3'], [4, 'request 4']], 'its pending calls are all there')
  assert.equal(original.size, 1, 'the stale original was left as it was')
  assert.ok(!registry.report().maps.some(m => m.name === 'instrument-reset'), 'the HandleMap was closed')
  assert.equal(handleMap.size, 2)
  assert.throws(() => uninstrument(client, 'pending'), /was not instrumented/)
})

test('instrument(): getters and frozen properties are refused; a Proxy holder and a symbol property are swapped and back', () => {
  const withGetter = { get m () { return new Map() } }
  assert.throws(() => instrument(withGetter, 'm'), /not a writable data property/)
  const frozen = Object.freeze({ m: new Map() })
  assert.throws(() => instrument(frozen, 'm'), /not a writable data property/)

  const target = { m: new Map([['a', 1]]) }
  const proxy = new Proxy(target, {})
  const original = target.m
  const viaProxy = instrument(proxy, 'm', { name: 'instrument-proxy-holder' })
  assert.equal(target.m, viaProxy)
  viaProxy.set('b', 2)
  assert.equal(uninstrument(proxy, 'm'), original)
  assert.deepEqual([...target.m], [['a', 1], ['b', 2]])

  const key = Symbol('pending')
  const holder = { [key]: new Map([[1, 'x']]) }
  const bySymbol = instrument(holder, key)
  assert.equal(bySymbol.name, 'Object.Symbol(pending)')
  assert.equal(holder[key], bySymbol)
  bySymbol.delete(1)
  assert.equal(uninstrument(holder, key).size, 0)
  assert.ok(holder[key] instanceof Map && !(holder[key] instanceof HandleMap))
})
