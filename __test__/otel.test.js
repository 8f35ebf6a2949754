'use strict'
// registerOpenTelemetry(meter) against the real OpenTelemetry SDK
// (@opentelemetry/sdk-metrics, a MeterProvider with a reader exporting into
// its InMemoryMetricExporter): instruments, units, attributes, bounded site
// series, counters that survive a closed map, and unregister(). Also: the
// package itself never loads @opentelemetry/api (an optional peer dependency).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality, DataPointType } = require('@opentelemetry/sdk-metrics')
const { registerOpenTelemetry } = require('../metrics.js')
const { newMap } = require('./support/maps.js')

function leakyA (map, key) { map.set(key, 'a') }
function leakyB (map, key) { map.set(key, 'b') }
function leakyC (map, key) { map.set(key, 'c') }

function sdk () {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // The interval never fires within a test: collection happens on forceFlush().
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  return {
    meter: provider.getMeter('handle-ledger-test'),
    /** `{ instrumentName: { descriptor, dataPointType, isMonotonic, dataPoints } }` of one collection. */
    async collect () {
      exporter.reset()
      await reader.forceFlush()
      const metrics = {}
      for (const resourceMetrics of exporter.getMetrics()) {
        for (const scope of resourceMetrics.scopeMetrics) {
          for (const metric of scope.metrics) metrics[metric.descriptor.name] = metric
        }
      }
      return metrics
    },
    shutdown: () => provider.shutdown()
  }
}

function pointOf (metric, map) {
  const found = metric.dataPoints.filter(point => point.attributes['handle_ledger.map'] === map && point.attributes['handle_ledger.site'] === undefined)
  assert.ok(found.length <= 1, `one ${metric.descriptor.name} point for ${map}`)
  return found.length === 0 ? undefined : found[0].value
}

test('instruments, units and figures through the real SDK; a closed map keeps counting', async () => {
  const name = 'otel-shared'
  const first = newMap({ name, callSites: 'all' })
  const second = newMap({ name, callSites: 'all' })
  for (let i = 0; i < 100; i++) leakyA(first, i)
  for (let i = 0; i < 40; i++) leakyB(second, i)
  for (let i = 0; i < 10; i++) second.delete(i)
  for (let i = 0; i < 3; i++) leakyC(second, `c${i}`)
  const otel = sdk()
  try {
    const registration = registerOpenTelemetry(otel.meter, { map: name, sitesPerMap: 2, attributes: { 'service.instance': 'test' } })
    assert.deepEqual(registration.names, ['handle_ledger.inserts', 'handle_ledger.removes', 'handle_ledger.expired', 'handle_ledger.live', 'handle_ledger.oldest_age', 'handle_ledger.site.live'])
    let metrics = await otel.collect()
    for (const counter of ['handle_ledger.inserts', 'handle_ledger.removes', 'handle_ledger.expired']) {
      assert.equal(metrics[counter].dataPointType, DataPointType.SUM, counter)
      assert.equal(metrics[counter].isMonotonic, true, counter)
      assert.equal(metrics[counter].descriptor.unit, '{entry}')
    }
    assert.equal(metrics['handle_ledger.live'].dataPointType, DataPointType.GAUGE)
    assert.equal(metrics['handle_ledger.oldest_age'].descriptor.unit, 's')
    assert.equal(pointOf(metrics['handle_ledger.inserts'], name), 143)
    assert.equal(pointOf(metrics['handle_ledger.removes'], name), 10)
    assert.equal(pointOf(metrics['handle_ledger.live'], name), 133)
    assert.ok(pointOf(metrics['handle_ledger.oldest_age'], name) >= 0)
    assert.equal(metrics['handle_ledger.inserts'].dataPoints[0].attributes['service.instance'], 'test')
    const sites = metrics['handle_ledger.site.live'].dataPoints
    assert.equal(sites.length, 2, 'sitesPerMap bounds the site series')
    assert.match(sites.find(point => point.value === 100).attributes['handle_ledger.site'], /^leakyA \(/)
    assert.match(sites.find(point => point.value === 30).attributes['handle_ledger.site'], /^leakyB \(/)

    first.close()
    metrics = await otel.collect()
    assert.equal(pointOf(metrics['handle_ledger.inserts'], name), 143, 'the closed map is still counted')
    assert.equal(pointOf(metrics['handle_ledger.live'], name), 33, 'the gauge drops')

    registration.unregister()
    for (let i = 0; i < 5; i++) leakyC(second, `late${i}`)
    metrics = await otel.collect()
    // The SDK may repeat the last cumulative values; it must not read new ones.
    const live = metrics['handle_ledger.live'] || { dataPoints: [] }
    assert.ok([undefined, 33].includes(pointOf(live, name)), 'the registry is not read after unregister')
    const inserts = metrics['handle_ledger.inserts'] || { dataPoints: [] }
    assert.ok([undefined, 143].includes(pointOf(inserts, name)), 'the registry is not read after unregister')
  } finally {
    await otel.shutdown()
  }
})

test('registerOpenTelemetry validates its arguments', () => {
  const { meter } = sdk()
  assert.throws(() => registerOpenTelemetry({}), { name: 'TypeError', message: /Meter from @opentelemetry\/api/ })
  assert.throws(() => registerOpenTelemetry(meter, { sitesPerMap: 1000 }), { name: 'RangeError', message: /sitesPerMap/ })
  assert.throws(() => registerOpenTelemetry(meter, { mapp: 'x' }), { name: 'TypeError', message: /no option 'mapp'/ })
  assert.throws(() => registerOpenTelemetry(meter, { map: 3 }), { name: 'TypeError', message: /option 'map'/ })
  assert.throws(() => registerOpenTelemetry(meter, { attributes: { 'handle_ledger.map': 'x' } }), { name: 'TypeError', message: /set by handle-ledger/ })
  assert.throws(() => registerOpenTelemetry(meter, { attributes: { a: {} } }), { name: 'TypeError', message: /value of 'a'/ })
})

test('require(\'handle-ledger\') loads no @opentelemetry module; it is an optional peer dependency', () => {
  const root = path.join(__dirname, '..')
  const child = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(root)}); console.log(JSON.stringify(Object.keys(require.cache)))`], { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  const loaded = JSON.parse(child.stdout)
  assert.ok(loaded.length > 3, 'the cache was read')
  assert.deepEqual(loaded.filter(file => file.includes('@opentelemetry')), [])
  const manifest = require('../package.json')
  assert.ok(manifest.peerDependencies['@opentelemetry/api'])
  assert.equal(manifest.peerDependenciesMeta['@opentelemetry/api'].optional, true)
  assert.equal(manifest.dependencies, undefined, 'no runtime dependency')
})
