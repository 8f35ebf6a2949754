'use strict'
// Partial leaks as they happen in real code, over real loopback HTTP: an
// Express app whose helper puts each upstream call's context into a HandleMap,
// an upstream server with variable latency and failures. Each shape's verdict
// is asserted: (a) one leaking route of a shared helper is its own flagged
// caller, the other route is not; (b) a cleanup lost on 5% of calls (the
// failed ones) is flagged by outliers before any TTL and by the expiry share
// after it; (d) a clean service with latencies from 1 ms to 3 s is never
// flagged, in several runs. Plus the "other callers" row and the rule options.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { setTimeout: sleep } = require('node:timers/promises')
const express = require('express')
const { registry, formatReport } = require('..')
const { newMap } = require('./support/maps.js')
const { listen } = require('./support/http.js')

// The line of this file holding `marker` (so assertions name real lines).
function lineOf (marker) {
  const lines = fs.readFileSync(__filename, 'utf8').split('\n')
  const at = lines.findIndex(line => line.includes(marker) && !line.includes('lineOf('))
  assert.ok(at >= 0, marker)
  return `partial-leaks.test.js:${at + 1}:`
}

// Upstream: /ms/N answers after N ms; /fail answers 500.
function upstreamServer () {
  return listen((req, res) => {
    if (req.url === '/fail') {
      res.statusCode = 500
      res.end('failed')
      return
    }
    const ms = Number(req.url.split('/')[2]) || 0
    setTimeout(() => res.end('ok'), ms)
  })
}

let nextId = 0

// The shared helper: one insert site, called from several routes.
async function callUpstream (calls, url, { cleanup = true } = {}) {
  const id = ++nextId
  calls.set(id, { url, started: Date.now() }) // helper insert
  try {
    return await (await fetch(url)).text()
  } finally {
    if (cleanup) calls.delete(id)
  }
}

// A helper whose error path returns before its cleanup.
async function fetchQuote (calls, url) {
  const id = ++nextId
  calls.set(id, { url }) // quote insert
  const response = await fetch(url)
  if (!response.ok) throw new Error(`upstream ${response.status}`)
  const body = await response.text()
  calls.delete(id)
  return body
}

async function drive (base, paths, concurrency) {
  let next = 0
  async function worker () {
    while (next < paths.length) {
      const path = paths[next++]
      const response = await fetch(base + path)
      await response.text()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

// Maps without a clock stamp operations at their flush (up to 1 s apart), so
// lifetimes shorter than that read as 0 or one flush interval; these tests'
// maps read the clock on each operation to measure millisecond lifetimes.
//
// fetch() and Express compile and connect on their first calls (hundreds of
// ms on a loaded machine): warm both so the first calls' lifetimes are the
// service's, not the process start's.
async function warmUp (upstream, server) {
  await drive(upstream.url, Array(20).fill('/ms/0'), 4)
  await drive(server.url, Array(20).fill('/warm'), 4)
}

function newApp () {
  const app = express()
  app.get('/warm', (req, res) => res.end())
  return app
}

function siteOf (name, options = {}) {
  const [map] = registry.report({ map: name, ...options }).maps
  return map
}

async function until (what, check, ms = 15_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const found = check()
    if (found) return found
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

test('a shared helper with one leaking route: that route is a flagged caller, the other is not', async () => {
  const upstream = await upstreamServer()
  const calls = newMap({ name: 'partial-shared', callSites: 'all', clock: Date.now })
  const app = newApp()
  app.get('/users', async (req, res) => res.send(await callUpstream(calls, `${upstream.url}/ms/2`))) // users route
  app.get('/orders', async (req, res) => res.send(await callUpstream(calls, `${upstream.url}/ms/2`, { cleanup: false }))) // orders route
  const server = await listen(app)
  try {
    await warmUp(upstream, server)
    await drive(server.url, [...Array(120)].map((_, i) => i % 3 === 2 ? '/orders' : '/users'), 8)
    const options = { outlierFloorMs: 300 }
    const map = await until('the leaking caller to be flagged', () => {
      const report = siteOf('partial-shared', options)
      return report.sites[0].suspect ? report : null
    })
    assert.equal(map.sites.length, 1, 'one insert site: the helper')
    const site = map.sites[0]
    assert.ok(site.site.includes(lineOf('// helper insert')), site.site)
    assert.equal(site.callers.length, 2)
    const [leaking, clean] = site.callers
    assert.ok(leaking.stack[1].includes(lineOf('// orders route')), leaking.stack[1])
    assert.ok(clean.stack[1].includes(lineOf('// users route')), clean.stack[1])
    assert.equal(leaking.suspect, true)
    assert.equal(clean.suspect, false)
    assert.equal(clean.reason, null)
    assert.deepEqual([leaking.live, leaking.inserts, leaking.removes], [40, 40, 0])
    assert.deepEqual([clean.live, clean.inserts, clean.removes], [0, 80, 80])
    assert.match(leaking.reason, /^never removed from this caller: 40 live, oldest [\d.]+ m?s; the site's other callers' 80 removed entries all ended within [\d.]+ m?s, and none of their 80 outlived [\d.]+ m?s \(chance 1 in [\d.e]+ if this caller were like them\)$/)
    assert.deepEqual([leaking.verdict.rule, leaking.verdict.scope, leaking.verdict.evidence.versus], ['never-removed', 'caller', 'other-callers'])
    assert.ok(leaking.verdict.evidence.chance <= 1e-6, leaking.reason)
    // The label is the route's line (where the two stacks part), not the helper's.
    assert.ok(leaking.label.includes(lineOf('// orders route')), leaking.label)
    assert.ok(clean.label.includes(lineOf('// users route')), clean.label)
    // The site's reason names the caller.
    assert.equal(site.reason, leaking.reason.replace('from this caller', `from caller ${leaking.label}`))
    assert.ok(site.stack[1].includes(lineOf('// orders route')), 'the site shows the leaking caller\'s stack')
    assert.equal(clean.lifetime.count, 80)
    assert.ok(clean.lifetime.p50Ms <= clean.lifetime.p99Ms && clean.lifetime.p99Ms <= clean.lifetime.maxMs)
    const text = formatReport(map)
    assert.match(text, /never removed from caller .*partial-leaks\.test\.js:\d+:\d+\): 40 live/)
    const callerLines = text.split('\n').filter(line => line.startsWith('       caller '))
    assert.equal(callerLines.length, 2, text)
    assert.ok(callerLines[0].includes(lineOf('// orders route')) && callerLines[0].endsWith('SUSPECT'), text)
    assert.ok(callerLines[1].includes(lineOf('// users route')) && !callerLines[1].includes('SUSPECT'), text)
  } finally {
    await server.close()
    await upstream.close()
  }
})

test('a cleanup lost on failed calls only: outliers before the TTL, expiry share after it', async () => {
  const upstream = await upstreamServer()
  const calls = newMap({ name: 'partial-fraction', callSites: 'all', ttl: 15_000, clock: Date.now })
  const app = newApp()
  app.get('/quote/:n', async (req, res) => {
    // One call in 20 fails upstream.
    const path = Number(req.params.n) % 20 === 0 ? '/fail' : '/ms/1'
    try {
      res.send(await fetchQuote(calls, upstream.url + path)) // quote route
    } catch {
      res.status(502).send('upstream failed')
    }
  })
  const server = await listen(app)
  try {
    await warmUp(upstream, server)
    await drive(server.url, [...Array(600)].map((_, i) => `/quote/${i + 1}`), 16)
    const options = { outlierFloorMs: 300 }
    // The lost entries are outliers once they are old enough.
    const before = await until('every lost entry to be an outlier', () => {
      const report = siteOf('partial-fraction', options)
      const verdict = report.sites[0].verdict
      return verdict && verdict.rule === 'outliers' && verdict.count === 30 ? report : null
    }, 30_000)
    const site = before.sites[0]
    assert.ok(site.site.includes(lineOf('// quote insert')), site.site)
    assert.equal(site.callers.length, 1)
    assert.deepEqual([site.live, site.removes, site.expired], [30, 570, 0], 'before the TTL nothing expired')
    const e = site.verdict.evidence
    assert.equal(e.versus, 'own-history')
    assert.deepEqual([e.reference, e.referenceBeyond, e.beyond], [570, 0, 30])
    assert.ok(e.olderThanMs >= 300 && e.olderThanMs >= e.maxMs, JSON.stringify(e))
    assert.ok(e.chance <= 1e-6)
    assert.match(site.reason, /^30 live entries of caller .* are older than [\d.]+ m?s \(oldest [\d.]+ m?s\), where this caller's history expects [\d.]+; its entries are removed within [\d.]+ m?s 99 times in 100, and none of its 570 outlived [\d.]+ m?s \(chance 1 in [\d.e]+ if nothing were wrong\)$/)
    assert.equal(site.callers[0].suspect, true)
    // A floor above every entry's age says nothing.
    assert.equal(siteOf('partial-fraction', { outlierFloorMs: 60_000 }).sites[0].suspect, false)

    const after = await until('the lost entries to expire', () => {
      calls.purgeExpired()
      const report = siteOf('partial-fraction')
      return report.expired === 30 ? report : null
    }, 30_000)
    const expired = after.sites[0]
    assert.deepEqual([expired.live, expired.removes, expired.expired], [0, 570, 30])
    assert.equal(expired.suspect, true)
    assert.equal(expired.reason, '5.0% of this site\'s entries expire instead of being removed (30 expired, 570 removed)')
    assert.equal(expired.callers[0].reason, '5.0% of this caller\'s entries expire instead of being removed (30 expired, 570 removed)')
    assert.match(formatReport(after), /5\.0% of this site's entries expire instead of being removed/)
  } finally {
    await server.close()
    await upstream.close()
  }
})

// Latencies from 1 ms to 3 s, log-uniform: most calls fast, a long tail.
function latency () {
  return Math.round(Math.exp(Math.random() * Math.log(3_000)))
}

test('a clean, busy service with latencies from 1 ms to 3 s is never flagged (several runs)', async () => {
  const upstream = await upstreamServer()
  for (let run = 1; run <= 3; run++) {
    const name = `partial-clean-${run}`
    const calls = newMap({ name, callSites: 'all', ttl: 30_000 })
    const app = newApp()
    app.get('/a', async (req, res) => res.send(await callUpstream(calls, `${upstream.url}/ms/${latency()}`)))
    app.get('/b', async (req, res) => res.send(await callUpstream(calls, `${upstream.url}/ms/${latency()}`)))
    app.get('/c', async (req, res) => {
      try {
        res.send(await fetchQuote(calls, `${upstream.url}/ms/${latency()}`))
      } catch {
        res.status(502).end()
      }
    })
    const server = await listen(app)
    await warmUp(upstream, server)
    let reports = 0
    let stop = false
    const load = drive(server.url, [...Array(600)].map((_, i) => ['/a', '/b', '/c'][i % 3]), 64).finally(() => { stop = true })
    try {
      await sleep(500) // every site has removed something
      while (!stop) {
        const map = siteOf(name, { outlierFloorMs: 4_000 })
        reports++
        for (const site of map.sites) {
          assert.equal(site.suspect, false, `run ${run}: ${formatReport(map)}`)
          for (const caller of site.callers) assert.equal(caller.suspect, false, `run ${run}: ${formatReport(map)}`)
        }
        await sleep(200)
      }
      await load
      const map = siteOf(name, { outlierFloorMs: 4_000 })
      assert.equal(map.live, 0)
      assert.equal(map.removes, 600)
      assert.ok(map.sites.every(site => !site.suspect))
      assert.ok(map.sites.some(site => site.lifetime.maxMs >= 1_000), 'the tail reached seconds')
      assert.ok(reports >= 3, `run ${run}: ${reports} reports taken under load`)
    } finally {
      await server.close()
    }
  }
  await upstream.close()
})

test('callers past the limit are one "other callers" row, in JSON and text; bad rule options are RangeErrors', () => {
  const map = newMap({ name: 'partial-many-callers', callSites: 'all' })
  function helper (key) { map.set(key, key) }
  // 20 distinct callers of one helper, each at its own column.
  const callers = Array.from({ length: 20 }, (_, i) => new Function('helper', 'key', `${' '.repeat(i)}helper(key)`)) // eslint-disable-line no-new-func -- callers at distinct columns
  for (let i = 0; i < 200; i++) callers[i % 20](helper, i)
  // Judged at any age (outlierFloorMs 0): these entries are milliseconds old.
  const [report] = registry.report({ map: 'partial-many-callers', callers: 3, outlierFloorMs: 0 }).maps
  const site = report.sites[0]
  assert.equal(site.callers.length, 3)
  assert.deepEqual(site.otherCallers, { callers: 17, live: 170, inserts: 170, removes: 0, expired: 0, suspect: true })
  assert.match(formatReport(report), /\n {7}\.\.\. 17 other callers {2}170 live \(170 in, 0 out\) {2}SUSPECT\n/)
  assert.equal(registry.report({ map: 'partial-many-callers' }).maps[0].sites[0].callers.length, 16, 'default: 16')
  assert.equal(registry.snapshot({ map: 'partial-many-callers' }).maps[0].sites[0].callers.length, 0, 'snapshots compare sites only')
  for (const bad of [{ callers: 0 }, { outlierFactor: 0.5 }, { outlierFloorMs: -1 }, { expiryShare: 0 }, { expiryShare: 2 }]) {
    assert.throws(() => registry.report(bad), RangeError, JSON.stringify(bad))
  }
})
