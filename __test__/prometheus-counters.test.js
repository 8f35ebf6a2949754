'use strict'
// Counters are monotonic per map name: a map that closes, is collected, or
// dies with its worker keeps its inserts/removes/expired counted under its
// name, so rate() and increase() never see a false reset. Checked on the
// real /debug/handles?format=prometheus output and through prom-client, with
// promtool and a Prometheus text parser. Also registerMetrics' prefix and
// labels options (as prom-client's collectDefaultMetrics takes them).
//
// This file is also the workers' script (see the end of the file).

const { isMainThread, workerData, parentPort, Worker } = require('node:worker_threads')
const { HandleMap, registry } = require('..')
const { debugHandles } = require('../http.js')
const { registerMetrics } = require('../metrics.js')

if (isMainThread) mainThread()
else workerThread()

function workerThread () {
  if (workerData.churn) return churn(workerData)
  // Inserts, removes some, drains (so the main thread sees the figures) and
  // exits without close(): the thread's teardown takes the map out.
  const map = new HandleMap({ name: workerData.name, flushInterval: 10 })
  for (let i = 0; i < workerData.inserts; i++) map.set(i, i)
  for (let i = 0; i < workerData.removes; i++) map.delete(i)
  registry.report({ limit: 0 })
  parentPort.postMessage('drained')
}

// Maps of one name opened, filled, drained and closed in a loop; the last
// one is left open for the thread's exit to take out.
function churn ({ name, maps, inserts }) {
  for (let m = 0; m < maps; m++) {
    const map = new HandleMap({ name })
    for (let i = 0; i < inserts; i++) map.set(i, i)
    map.delete(0)
    if (m < maps - 1) map.close()
    else registry.report({ map: name, limit: 0 })
  }
  parentPort.postMessage('drained')
}

function mainThread () {
  const { test } = require('node:test')
  const assert = require('node:assert/strict')
  const { once } = require('node:events')
  const v8 = require('node:v8')
  const vm = require('node:vm')
  const { setTimeout: sleep } = require('node:timers/promises')
  const promClient = require('prom-client')
  const { listen, scrapeText, assertPromtoolAccepts, parse, valueOf } = require('./support/prometheus.js')
  const { newMap } = require('./support/maps.js')

  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc')

  function fill (map, inserts, removes = 0) {
    for (let i = 0; i < inserts; i++) map.set(`k${i}`, i)
    for (let i = 0; i < removes; i++) map.delete(`k${i}`)
  }

  async function routeFamilies (server, name) {
    const body = await scrapeText(`${server.url}/debug/handles?format=prometheus&map=${encodeURIComponent(name)}`)
    assertPromtoolAccepts(body)
    return parse(body)
  }

  test('two maps of one name: closing one lowers the live gauge, never a counter', async () => {
    const name = 'counters-shared'
    const first = newMap({ name })
    const second = newMap({ name })
    fill(first, 100, 0)
    fill(second, 40, 10)
    const server = await listen(debugHandles())
    try {
      let families = await routeFamilies(server, name)
      assert.equal(valueOf(families, 'handle_ledger_inserts_total', { map: name }), 140)
      assert.equal(valueOf(families, 'handle_ledger_removes_total', { map: name }), 10)
      assert.equal(valueOf(families, 'handle_ledger_live', { map: name }), 130)

      first.close()
      families = await routeFamilies(server, name)
      assert.equal(valueOf(families, 'handle_ledger_inserts_total', { map: name }), 140, 'the closed map still counts')
      assert.equal(valueOf(families, 'handle_ledger_removes_total', { map: name }), 10)
      assert.equal(valueOf(families, 'handle_ledger_live', { map: name }), 30, 'the gauge is the live map only')

      fill(second, 5) // keys k0..k4 again: 5 more inserts
      second.close()
      families = await routeFamilies(server, name)
      assert.equal(valueOf(families, 'handle_ledger_inserts_total', { map: name }), 145, 'every map of the name closed: the counter stays')
      assert.equal(valueOf(families, 'handle_ledger_live', { map: name }), undefined, 'no live map, no gauge')

      const again = newMap({ name })
      fill(again, 3)
      families = await routeFamilies(server, name)
      assert.equal(valueOf(families, 'handle_ledger_inserts_total', { map: name }), 148, 'a new map of the name adds up')
      assert.equal(valueOf(families, 'handle_ledger_live', { map: name }), 3)
    } finally {
      await server.close()
    }
  })

  test('a collected map (dropped without close) keeps counting under its name', async () => {
    const name = 'counters-collected'
    const kept = newMap({ name })
    fill(kept, 2)
    let id = (function dropped () {
      const map = new HandleMap({ name })
      fill(map, 25, 5)
      return registry.report({ map: name, limit: 0 }).maps.find(report => report.live === 20).id
    })()
    const server = await listen(debugHandles())
    try {
      for (let round = 0; id !== null; round++) {
        assert.ok(round < 500, 'the dropped map was never collected')
        gc()
        await sleep(5)
        if (!registry.report({ map: name, limit: 0 }).maps.some(map => map.id === id)) id = null
      }
      const families = await routeFamilies(server, name)
      assert.equal(valueOf(families, 'handle_ledger_inserts_total', { map: name }), 27)
      assert.equal(valueOf(families, 'handle_ledger_removes_total', { map: name }), 5)
      assert.equal(valueOf(families, 'handle_ledger_live', { map: name }), 2)
    } finally {
      await server.close()
    }
  })

  test('maps of worker threads that exit stay counted on the main thread', async () => {
    const name = 'counters-workers'
    const server = await listen(debugHandles())
    try {
      const seen = []
      for (let round = 1; round <= 3; round++) {
        const worker = new Worker(__filename, { workerData: { name, inserts: 10 * round, removes: round } })
        // Listen for the exit before awaiting the message: a worker that ends
        // right after posting has its last message and its 'exit' emitted in
        // one turn, and a listener added after the message would miss the exit.
        const exited = once(worker, 'exit')
        const [message] = await once(worker, 'message')
        assert.equal(message, 'drained')
        await exited
        const families = await routeFamilies(server, name)
        seen.push(valueOf(families, 'handle_ledger_inserts_total', { map: name }))
        assert.equal(valueOf(families, 'handle_ledger_live', { map: name }), undefined, 'the worker map left with its thread')
        assert.equal(valueOf(families, 'handle_ledger_removes_total', { map: name }), [1, 3, 6][round - 1])
      }
      assert.deepEqual(seen, [10, 30, 60], 'each exited worker adds its inserts')
    } finally {
      await server.close()
    }
  })

  test('read while worker threads open and close maps of one name, a counter never goes down', async () => {
    const { counterTotals } = require('../lib/http/prometheus.js')
    const name = 'counters-churn'
    const workers = [0, 1, 2].map(() => new Worker(__filename, { workerData: { churn: true, name, maps: 200, inserts: 20 } }))
    const exited = Promise.all(workers.map(worker => once(worker, 'exit')))
    let running = true
    exited.then(() => { running = false })
    const readings = []
    while (running) {
      const [totals] = counterTotals(name)
      if (totals !== undefined) readings.push([totals.inserts, totals.removes])
      await new Promise(resolve => setImmediate(resolve))
    }
    const [final] = counterTotals(name)
    assert.deepEqual([final.inserts, final.removes], [3 * 200 * 20, 3 * 200], 'every map of every worker counted once')
    assert.equal(final.liveMaps, 0)
    assert.ok(readings.length > 10, `read while the workers ran (${readings.length} readings)`)
    for (let i = 1; i < readings.length; i++) {
      assert.ok(readings[i][0] >= readings[i - 1][0] && readings[i][1] >= readings[i - 1][1], `reading ${i} went down: ${readings[i - 1]} -> ${readings[i]}`)
    }
  })

  test('registerMetrics: prefix and labels as collectDefaultMetrics, counters monotonic across close', async () => {
    const name = 'counters-prom-client'
    const first = newMap({ name })
    const second = newMap({ name })
    fill(first, 7)
    fill(second, 3, 1)
    const target = new promClient.Registry()
    const registration = registerMetrics(promClient, { registry: target, map: name, prefix: 'svc_', labels: { app: 'checkout', shard: 2 } })
    assert.ok(registration.names.every(metric => metric.startsWith('svc_handle_ledger_')), registration.names.join())
    const labels = { app: 'checkout', shard: '2', map: name }
    const read = async () => {
      const body = await target.metrics()
      assertPromtoolAccepts(body)
      return parse(body)
    }
    let families = await read()
    assert.equal(families.handle_ledger_inserts_total, undefined, 'no unprefixed family')
    assert.equal(valueOf(families, 'svc_handle_ledger_inserts_total', labels), 10)
    assert.equal(valueOf(families, 'svc_handle_ledger_live', labels), 9)
    first.close()
    families = await read()
    assert.equal(valueOf(families, 'svc_handle_ledger_inserts_total', labels), 10)
    assert.equal(valueOf(families, 'svc_handle_ledger_removes_total', labels), 1)
    assert.equal(valueOf(families, 'svc_handle_ledger_live', labels), 2)
    const site = families.svc_handle_ledger_site_live
    assert.ok(site.samples.every(sample => sample.labels.app === 'checkout' && sample.labels.shard === '2'))
    registration.unregister()
    assert.deepEqual(target.getMetricsAsArray(), [], 'unregister removes the prefixed families')
  })

  test('registerMetrics rejects a bad prefix or labels with a TypeError naming the option', () => {
    const target = new promClient.Registry()
    assert.throws(() => registerMetrics(promClient, { registry: target, prefix: 'bad-prefix' }), { name: 'TypeError', message: /option 'prefix'/ })
    assert.throws(() => registerMetrics(promClient, { registry: target, prefix: 3 }), { name: 'TypeError', message: /option 'prefix'/ })
    assert.throws(() => registerMetrics(promClient, { registry: target, labels: 'app=x' }), { name: 'TypeError', message: /option 'labels'/ })
    assert.throws(() => registerMetrics(promClient, { registry: target, labels: { 'bad-name': 'x' } }), { name: 'TypeError', message: /not a valid label name/ })
    assert.throws(() => registerMetrics(promClient, { registry: target, labels: { map: 'x' } }), { name: 'TypeError', message: /'map' is a label of handle-ledger/ })
    assert.throws(() => registerMetrics(promClient, { registry: target, labels: { app: {} } }), { name: 'TypeError', message: /value of 'app'/ })
    assert.equal(target.getMetricsAsArray().length, 0, 'nothing registered by a rejected call')
  })
}
