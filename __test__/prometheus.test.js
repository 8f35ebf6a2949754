'use strict'
// Prometheus output: checked by Prometheus's own `promtool check metrics`
// (Debian package prometheus) and parsed back with parse-prometheus-text-format,
// from a real /debug/handles?format=prometheus and from a prom-client registry
// served by Express on /metrics.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const vm = require('node:vm')
const express = require('express')
const promClient = require('prom-client')
const { debugHandles } = require('../http.js')
const { registerMetrics } = require('../metrics.js')
const { escapeLabelValue, renderMetrics } = require('../lib/http/prometheus.js')

const { newMap } = require('./support/maps.js')
const { listen } = require('./support/http.js')
const { assertPromtoolAccepts, parse } = require('./support/prometheus.js')
const { simulatePartialLeak } = require('../scripts/partial-leak-scene.js')

function leakyInsert (map, key) { map.set(key, key) }
function balancedInsert (map, key) { map.set(key, key) }

async function scrape (url) {
  const response = await fetch(url)
  assert.equal(response.status, 200)
  return { contentType: response.headers.get('content-type'), body: await response.text() }
}

function sampleOf (families, name, labels) {
  const found = families[name].samples.filter(sample =>
    Object.keys(labels).length === Object.keys(sample.labels).length &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
  assert.equal(found.length, 1, `exactly one ${name} series for ${JSON.stringify(labels)}, got ${found.length}`)
  return found[0].value
}

const FAMILY_TYPES = {
  handle_ledger_live: 'GAUGE',
  handle_ledger_inserts_total: 'COUNTER',
  handle_ledger_removes_total: 'COUNTER',
  handle_ledger_expired_total: 'COUNTER',
  handle_ledger_oldest_age_seconds: 'GAUGE',
  handle_ledger_site_live: 'GAUGE',
  handle_ledger_site_suspect: 'GAUGE',
  handle_ledger_suspect_caller_live: 'GAUGE',
  handle_ledger_site_lifetime_seconds: 'GAUGE'
}

// A clock of its own: the TTL expires entries when the test says so, however slow the machine.
let sessionsNow = 1_000_000
const sessions = newMap({ name: 'prom-sessions', callSites: 'all', ttl: 500, clock: () => sessionsNow, strict: false })
for (let i = 0; i < 6; i++) leakyInsert(sessions, `leak-${i}`)
for (let i = 0; i < 4; i++) {
  balancedInsert(sessions, `ok-${i}`)
  sessions.delete(`ok-${i}`)
}

test('format=prometheus passes promtool check metrics and parses back to the registry figures', async () => {
  const server = await listen(debugHandles())
  try {
    sessionsNow += 700 // past the 500 ms TTL of the 6 leaked entries
    assert.equal(sessions.purgeExpired(), 6)
    for (let i = 0; i < 3; i++) leakyInsert(sessions, `leak-again-${i}`)
    const { contentType, body } = await scrape(`${server.url}/debug/handles?format=prometheus`)
    assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8')
    assertPromtoolAccepts(body)
    const families = parse(body)
    for (const [name, type] of Object.entries(FAMILY_TYPES)) {
      assert.equal(families[name].type, type, name)
      assert.ok(families[name].help.length > 10, `${name} has HELP`)
    }
    const map = { map: 'prom-sessions' }
    assert.equal(sampleOf(families, 'handle_ledger_live', map), 3)
    assert.equal(sampleOf(families, 'handle_ledger_inserts_total', map), 13)
    assert.equal(sampleOf(families, 'handle_ledger_removes_total', map), 4)
    assert.equal(sampleOf(families, 'handle_ledger_expired_total', map), 6)
    const oldest = sampleOf(families, 'handle_ledger_oldest_age_seconds', map)
    assert.ok(oldest >= 0 && oldest < 1, `oldest age in seconds, got ${oldest}`)
    const leakSite = families.handle_ledger_site_live.samples.find(sample =>
      sample.labels.map === 'prom-sessions' && sample.labels.site.startsWith('leakyInsert ('))
    assert.equal(leakSite.value, 3)
    // The suspect gauge flags the leaking site only; lifetimes exist only for the site that removes.
    const suspect = site => sampleOf(families, 'handle_ledger_site_suspect', { map: 'prom-sessions', site })
    const balanced = families.handle_ledger_site_live.samples.find(sample =>
      sample.labels.map === 'prom-sessions' && sample.labels.site.startsWith('balancedInsert ('))
    assert.equal(suspect(leakSite.labels.site), 1)
    assert.equal(suspect(balanced.labels.site), 0)
    const lifetimes = families.handle_ledger_site_lifetime_seconds.samples.filter(sample => sample.labels.map === 'prom-sessions')
    assert.deepEqual(lifetimes.map(sample => [sample.labels.site, sample.labels.stat]),
      [['p50', 'p99', 'max'].map(stat => [balanced.labels.site, stat])].flat())
    assert.ok(lifetimes.every(sample => sample.value >= 0 && sample.value < 60))
  } finally {
    await server.close()
  }
})

test('a suspect caller is a series labelled by its own line and its rule; its clean sibling has none', async () => {
  const { orderLine } = simulatePartialLeak(newMap, 'prom-upstream-calls')
  const server = await listen(debugHandles())
  try {
    const { body } = await scrape(`${server.url}/debug/handles?format=prometheus&map=prom-upstream-calls`)
    assertPromtoolAccepts(body)
    const families = parse(body)
    const callers = families.handle_ledger_suspect_caller_live.samples
    assert.equal(callers.length, 1, body)
    const [{ labels, value }] = callers
    assert.equal(value, 40)
    assert.equal(labels.map, 'prom-upstream-calls')
    assert.match(labels.site, /^callUpstream \(.*partial-leak-scene\.js:\d+:\d+\)$/)
    // Named by the frame where the two callers' stacks part: getOrder, not the helper.
    assert.match(labels.caller, new RegExp(`^getOrder \\(.*partial-leak-scene\\.js:${orderLine}:\\d+\\)$`))
    assert.equal(labels.rule, 'never-removed')
    assert.equal(sampleOf(families, 'handle_ledger_site_suspect', { map: 'prom-upstream-calls', site: labels.site }), 1)
  } finally {
    await server.close()
  }
})

test('label values are escaped: quotes, backslashes and newlines survive promtool and a parser', async () => {
  const name = 'prom "quoted" back\\slash'
  const weird = newMap({ name, callSites: 'all' })
  const fileName = 'dir\\sub "x"\nsecond line.js'
  const insert = vm.runInThisContext('(function weirdSite (map) { map.set("k", 1) })', { filename: fileName })
  insert(weird)
  const server = await listen(debugHandles())
  try {
    const { body } = await scrape(`${server.url}/debug/handles?format=prometheus&map=${encodeURIComponent(name)}`)
    assertPromtoolAccepts(body)
    assert.match(body, /handle_ledger_live\{map="prom \\"quoted\\" back\\\\slash"\} 1/)
    const families = parse(body)
    assert.equal(sampleOf(families, 'handle_ledger_live', { map: name }), 1)
    const [site] = families.handle_ledger_site_live.samples
    assert.equal(site.labels.map, name)
    assert.equal(site.labels.site, `weirdSite (${fileName}:1:33)`)
  } finally {
    await server.close()
  }
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd')
})

function manySites (name, count, file = name) {
  const map = newMap({ name, callSites: 'all' })
  for (let i = 0; i < count; i++) {
    const insert = vm.runInThisContext(`(function site${i} (map, key) { map.set(key, 1) })`, { filename: `${file}-${i}.js` })
    for (let n = 0; n <= i; n++) insert(map, `${i}-${n}`) // site i holds i+1 entries
  }
  return map
}

function siteSeries (families, map) {
  return families.handle_ledger_site_live.samples.filter(sample => sample.labels.map === map)
}

test('per-site series are bounded: the top sites of each map by live count', async () => {
  manySites('prom-many', 40)
  const defaults = await listen(debugHandles())
  const narrow = await listen(debugHandles({ sitesPerMap: 3 }))
  try {
    const families = parse((await scrape(`${defaults.url}/debug/handles?format=prometheus&map=prom-many`)).body)
    const series = siteSeries(families, 'prom-many')
    assert.equal(series.length, 10, 'default bound: 10 site series per map')
    assert.deepEqual(series.map(sample => sample.value), [40, 39, 38, 37, 36, 35, 34, 33, 32, 31], 'the biggest sites')
    assert.match(series[0].labels.site, /^site39 \(/)

    const capped = parse((await scrape(`${narrow.url}/debug/handles?format=prometheus&map=prom-many`)).body)
    assert.equal(siteSeries(capped, 'prom-many').length, 3, 'sitesPerMap option')
    const lowered = parse((await scrape(`${defaults.url}/debug/handles?format=prometheus&map=prom-many&limit=2`)).body)
    assert.equal(siteSeries(lowered, 'prom-many').length, 2, '?limit lowers the bound')
    const notRaised = parse((await scrape(`${narrow.url}/debug/handles?format=prometheus&map=prom-many&limit=50`)).body)
    assert.equal(siteSeries(notRaised, 'prom-many').length, 3, '?limit never raises it')

    manySites('prom-many-shared', 3)
    manySites('prom-many-shared', 3, 'other-file') // same name, three other sites: six sites under one map label
    const shared = parse((await scrape(`${narrow.url}/debug/handles?format=prometheus&map=prom-many-shared`)).body)
    assert.deepEqual(siteSeries(shared, 'prom-many-shared').map(sample => sample.value), [3, 3, 2], 'the bound holds per map name')
  } finally {
    await defaults.close()
    await narrow.close()
  }
})

test('maps sharing a name are summed into one series per family (no duplicate series)', async () => {
  const first = newMap({ name: 'prom-shared', callSites: 'all' })
  const second = newMap({ name: 'prom-shared', callSites: 'all' })
  for (let i = 0; i < 2; i++) leakyInsert(first, i)
  for (let i = 0; i < 5; i++) leakyInsert(second, i)
  const server = await listen(debugHandles())
  try {
    const { body } = await scrape(`${server.url}/debug/handles?format=prometheus&map=prom-shared`)
    assertPromtoolAccepts(body)
    const families = parse(body)
    assert.equal(sampleOf(families, 'handle_ledger_live', { map: 'prom-shared' }), 7)
    assert.equal(sampleOf(families, 'handle_ledger_inserts_total', { map: 'prom-shared' }), 7)
    const sites = siteSeries(families, 'prom-shared')
    assert.equal(sites.length, 1, 'one site series, both maps summed')
    assert.equal(sites[0].value, 7)
    const lines = body.split('\n').filter(line => line !== '' && !line.startsWith('#')).map(line => line.slice(0, line.lastIndexOf(' ')))
    assert.equal(new Set(lines).size, lines.length, 'every series appears once')
  } finally {
    await server.close()
  }
})

test('renderMetrics with no maps still declares every family', () => {
  const body = renderMetrics({ maps: [] })
  assertPromtoolAccepts(body)
  assert.equal(body.match(/^# TYPE /gm).length, Object.keys(FAMILY_TYPES).length)
})

test('registerMetrics: the same figures through a prom-client registry on an Express /metrics route', async () => {
  const jobs = newMap({ name: 'prom-client-jobs', callSites: 'all' })
  for (let i = 0; i < 4; i++) leakyInsert(jobs, i)
  const target = new promClient.Registry()
  const counter = new promClient.Counter({ name: 'app_requests_total', help: 'The app own metric.', registers: [target] })
  counter.inc()
  const registration = registerMetrics(promClient, { registry: target, map: 'prom-client-jobs', sitesPerMap: 2 })
  assert.deepEqual(registration.names, Object.keys(FAMILY_TYPES))
  const app = express()
  app.get('/metrics', async (req, res) => {
    res.set('content-type', target.contentType)
    res.end(await target.metrics())
  })
  const server = await listen(app)
  try {
    const first = await scrape(`${server.url}/metrics`)
    assertPromtoolAccepts(first.body)
    let families = parse(first.body)
    assert.equal(families.app_requests_total.samples[0].value, 1, 'the app metrics are untouched')
    for (const [name, type] of Object.entries(FAMILY_TYPES)) assert.equal(families[name].type, type, name)
    assert.equal(sampleOf(families, 'handle_ledger_live', { map: 'prom-client-jobs' }), 4)
    assert.equal(sampleOf(families, 'handle_ledger_inserts_total', { map: 'prom-client-jobs' }), 4)
    assert.equal(siteSeries(families, 'prom-client-jobs')[0].value, 4)

    for (let i = 0; i < 4; i++) jobs.delete(i)
    for (let i = 10; i < 12; i++) balancedInsert(jobs, i)
    families = parse((await scrape(`${server.url}/metrics`)).body)
    assert.equal(sampleOf(families, 'handle_ledger_live', { map: 'prom-client-jobs' }), 2, 'read again on each scrape')
    assert.equal(sampleOf(families, 'handle_ledger_inserts_total', { map: 'prom-client-jobs' }), 6)
    assert.equal(sampleOf(families, 'handle_ledger_removes_total', { map: 'prom-client-jobs' }), 4)
    const sites = siteSeries(families, 'prom-client-jobs')
    assert.ok(sites.length <= 2, 'sitesPerMap bounds the prom-client series too')
    assert.match(sites[0].labels.site, /^balancedInsert \(/)

    registration.unregister()
    const after = parse((await scrape(`${server.url}/metrics`)).body)
    assert.equal(after.handle_ledger_live, undefined)
    assert.ok(after.app_requests_total)
  } finally {
    await server.close()
  }
})

test('registerMetrics validates its arguments', () => {
  assert.throws(() => registerMetrics({}), { name: 'TypeError', message: /prom-client module/ })
  assert.throws(() => registerMetrics(promClient, { registy: null }), { name: 'TypeError', message: /no option 'registy'/ })
  assert.throws(() => registerMetrics(promClient, { registry: new promClient.Registry(), sitesPerMap: 1e6 }), { name: 'RangeError' })
  const target = new promClient.Registry()
  registerMetrics(promClient, { registry: target })
  assert.throws(() => registerMetrics(promClient, { registry: target }), /already been registered/)
})
