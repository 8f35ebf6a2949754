'use strict'
// OpenTelemetry: registerOpenTelemetry(meter, options) registers observable
// instruments on a Meter from @opentelemetry/api. The meter is passed in, so
// handle-ledger never requires @opentelemetry/api itself (an optional peer
// dependency): the figures are read once per collection, for every
// instrument together, through one batch observable callback.
//
// The figures are the Prometheus ones (prometheus.js): per map name,
// counters that keep the totals of closed maps, live and oldest-age gauges
// of the live maps, and per-site live gauges for the top `sitesPerMap` sites
// of each name (bounded cardinality).

const { registry } = require('../report/registry.js')
const { checkOptionNames } = require('../shared/options.js')
const { collectSamples, counterTotals, checkSitesPerMap, DEFAULT_SITES_PER_MAP } = require('./prometheus.js')

const MAP_ATTRIBUTE = 'handle_ledger.map'
const SITE_ATTRIBUTE = 'handle_ledger.site'

// key: the family key in collectSamples; kind: the Meter method.
const INSTRUMENTS = [
  { key: 'inserts', name: 'handle_ledger.inserts', kind: 'createObservableCounter', unit: '{entry}', description: 'Entries inserted into the handle maps of this name, closed maps included.' },
  { key: 'removes', name: 'handle_ledger.removes', kind: 'createObservableCounter', unit: '{entry}', description: 'Entries removed by delete() or clear(), closed maps included.' },
  { key: 'expired', name: 'handle_ledger.expired', kind: 'createObservableCounter', unit: '{entry}', description: 'Entries expired by the map TTL, never removed by the code that inserted them, closed maps included.' },
  { key: 'live', name: 'handle_ledger.live', kind: 'createObservableGauge', unit: '{entry}', description: 'Entries currently in the live handle maps of this name.' },
  { key: 'oldestAgeSeconds', name: 'handle_ledger.oldest_age', kind: 'createObservableGauge', unit: 's', description: 'Age of the oldest live entry of the handle maps of this name (0 when empty).' },
  { key: 'siteLive', name: 'handle_ledger.site.live', kind: 'createObservableGauge', unit: '{entry}', description: 'Live entries by insert call site, top sites of each map name only (estimated when call sites are sampled).' }
]

const OPTIONS = new Set(['map', 'sitesPerMap', 'attributes'])

function checkMeter (meter) {
  const methods = ['createObservableCounter', 'createObservableGauge', 'addBatchObservableCallback', 'removeBatchObservableCallback']
  if (meter === null || typeof meter !== 'object' || methods.some(method => typeof meter[method] !== 'function')) {
    throw new TypeError('registerOpenTelemetry(meter, options): meter must be a Meter from @opentelemetry/api (metrics.getMeter(name) or meterProvider.getMeter(name))')
  }
}

function checkAttributes (attributes) {
  if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) {
    throw new TypeError('registerOpenTelemetry option \'attributes\' must be an object of attribute names to values')
  }
  for (const [name, value] of Object.entries(attributes)) {
    if (name === MAP_ATTRIBUTE || name === SITE_ATTRIBUTE) throw new TypeError(`registerOpenTelemetry option 'attributes': '${name}' is set by handle-ledger`)
    if (!['string', 'number', 'boolean'].includes(typeof value)) throw new TypeError(`registerOpenTelemetry option 'attributes': the value of '${name}' must be a string, number or boolean`)
  }
  return { ...attributes }
}

function checkOptions (options) {
  checkOptionNames(options, 'registerOpenTelemetry', OPTIONS)
  const { map, sitesPerMap = DEFAULT_SITES_PER_MAP, attributes = {} } = options
  if (map !== undefined && typeof map !== 'string') throw new TypeError('registerOpenTelemetry option \'map\' must be a map name (string)')
  checkSitesPerMap(sitesPerMap, 'registerOpenTelemetry option \'sitesPerMap\'')
  return { map, sitesPerMap, attributes: checkAttributes(attributes) }
}

function attributesOf (labels, constant) {
  const attributes = { ...constant, [MAP_ATTRIBUTE]: labels.map }
  if (labels.site !== undefined) attributes[SITE_ATTRIBUTE] = labels.site
  return attributes
}

/**
 * Registers handle-ledger's instruments on `meter`. Options: `map` (one map
 * name only), `sitesPerMap` (per-site series per map name, default 10, at
 * most 100), `attributes` (constant attributes on every point). Returns
 * `{ names, unregister() }`; unregister() stops the observation.
 */
function registerOpenTelemetry (meter, options = {}) {
  checkMeter(meter)
  const { map, sitesPerMap, attributes } = checkOptions(options)
  const instruments = INSTRUMENTS.map(spec => ({ spec, instrument: meter[spec.kind](spec.name, { description: spec.description, unit: spec.unit }) }))
  const observables = instruments.map(({ instrument }) => instrument)
  const observe = observer => {
    const report = registry.report({ map, limit: sitesPerMap })
    const samples = collectSamples(report, sitesPerMap, { totals: counterTotals(map) })
    for (const { spec, instrument } of instruments) {
      for (const { labels, value } of samples[spec.key]) observer.observe(instrument, value, attributesOf(labels, attributes))
    }
  }
  meter.addBatchObservableCallback(observe, observables)
  return {
    names: INSTRUMENTS.map(spec => spec.name),
    unregister () {
      meter.removeBatchObservableCallback(observe, observables)
    }
  }
}

module.exports = { registerOpenTelemetry }
