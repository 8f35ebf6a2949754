'use strict'
// Prometheus figures of a registry report: the text exposition format 0.0.4
// for /debug/handles?format=prometheus, and registerMetrics() for servers
// that already expose a prom-client registry on /metrics.
//
// Series are keyed by map *name*: maps sharing a name (one per worker, one
// per tenant...) are summed, so two maps never produce duplicate series and
// a map's identity survives restarts. Counters (inserts, removes, expired)
// come from the native per-name totals, which keep the figures of closed
// and collected maps: a map that closes never lowers a counter. Gauges (live,
// oldest age) are the live maps' only. Per-site series are bounded: only the
// top `sitesPerMap` sites of each map name by live count are exported.

const native = require('../../binding.js')
const { registry } = require('../report/registry.js')
const { checkOptionNames } = require('../shared/options.js')

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
const DEFAULT_SITES_PER_MAP = 10
const MAX_SITES_PER_MAP = 100
// Label values are capped so a pathological site string (a huge eval'd file
// name) cannot bloat every scrape; truncated sites that collide are summed.
const MAX_LABEL_LENGTH = 500

const FAMILIES = [
  { key: 'live', name: 'handle_ledger_live', type: 'gauge', labelNames: ['map'], help: 'Entries currently in the handle map (maps with the same name are summed).' },
  { key: 'inserts', name: 'handle_ledger_inserts_total', type: 'counter', labelNames: ['map'], help: 'Entries inserted into the handle map.' },
  { key: 'removes', name: 'handle_ledger_removes_total', type: 'counter', labelNames: ['map'], help: 'Entries removed from the handle map by delete() or clear().' },
  { key: 'expired', name: 'handle_ledger_expired_total', type: 'counter', labelNames: ['map'], help: 'Entries expired by the map TTL, never removed by the code that inserted them.' },
  { key: 'oldestAgeSeconds', name: 'handle_ledger_oldest_age_seconds', type: 'gauge', labelNames: ['map'], help: 'Age of the oldest live entry of the handle map in seconds (0 when empty).' },
  { key: 'siteLive', name: 'handle_ledger_site_live', type: 'gauge', labelNames: ['map', 'site'], help: 'Live entries by insert call site, only the top sites of each map by live count (bounded cardinality; estimated when call sites are sampled).' },
  { key: 'siteSuspect', name: 'handle_ledger_site_suspect', type: 'gauge', labelNames: ['map', 'site'], help: '1 when the insert site is suspected of a leak (never removed, outliers, expiry share; the reason is in /debug/handles), else 0; the same top sites as handle_ledger_site_live.' },
  { key: 'callerSuspect', name: 'handle_ledger_suspect_caller_live', type: 'gauge', labelNames: ['map', 'site', 'caller', 'rule'], help: 'Live entries of each suspect caller of an exported site (a distinct stack through the insert site), labelled by the frame that tells it from the site\'s other callers and by the rule that flagged it (never-removed, outliers, expiry-share).' },
  { key: 'siteLifetime', name: 'handle_ledger_site_lifetime_seconds', type: 'gauge', labelNames: ['map', 'site', 'stat'], help: 'How long entries of the insert site lived before they were removed, in seconds: stat p50, p99 and max; p50 and p99 within 25% above the true value. Maps sharing a name report the largest.' }
]

const LIFETIME_STATS = [['p50', 'p50Ms'], ['p99', 'p99Ms'], ['max', 'maxMs']]

function truncateLabel (text) {
  const value = typeof text === 'string' ? text : '(site not recorded)'
  return value.length > MAX_LABEL_LENGTH ? value.slice(0, MAX_LABEL_LENGTH - 3) + '...' : value
}

/** Sums the figures of maps sharing a name, sites included. */
function groupByName (maps) {
  const groups = new Map()
  for (const map of maps) {
    let group = groups.get(map.name)
    if (group === undefined) {
      group = { name: map.name, live: 0, inserts: 0, removes: 0, expired: 0, oldestAgeMs: 0, sites: new Map() }
      groups.set(map.name, group)
    }
    group.live += map.live
    group.inserts += map.inserts
    group.removes += map.removes
    group.expired += map.expired
    group.oldestAgeMs = Math.max(group.oldestAgeMs, map.oldestAgeMs || 0)
    for (const site of map.sites || []) {
      const label = truncateLabel(site.site)
      const known = group.sites.get(label) || { live: 0, suspect: false, lifetime: null, callers: new Map() }
      known.live += site.live
      known.suspect ||= site.suspect === true
      known.lifetime = largestLifetime(known.lifetime, site.lifetime)
      addSuspectCallers(known.callers, site)
      group.sites.set(label, known)
    }
  }
  return [...groups.values()]
}

// Suspect callers by label and rule (maps sharing a name are summed).
function addSuspectCallers (known, site) {
  for (const caller of site.callers || []) {
    if (!caller.suspect || !caller.verdict) continue
    const labels = { caller: truncateLabel(caller.label ?? caller.stack?.[1] ?? null), rule: String(caller.verdict.rule) }
    const key = `${labels.caller}\u0000${labels.rule}`
    const sum = known.get(key) || { labels, live: 0 }
    sum.live += caller.live
    known.set(key, sum)
  }
}

// Quantiles of maps sharing a name cannot be merged exactly: the largest of each.
function largestLifetime (a, b) {
  if (!a || !b) return a || b || null
  return Object.fromEntries(LIFETIME_STATS.map(([, key]) => [key, Math.max(a[key], b[key])]))
}

function topSites (sites, count) {
  return [...sites].sort((a, b) => b[1].live - a[1].live).slice(0, count)
}

const COUNTERS = ['inserts', 'removes', 'expired']

/**
 * `[{ name, inserts, removes, expired, liveMaps, closedMaps }]` by map name
 * (`map`: that name only), closed maps included: the counters to export.
 */
function counterTotals (map) {
  return native.registryTotals(map)
}

/**
 * The report's per-name groups with their counters replaced by `totals`
 * (which include closed maps), plus a group for each name whose maps have
 * all closed. A name the totals lack (a report built elsewhere) keeps the
 * report's sums.
 */
function withTotals (groups, totals) {
  const byName = new Map(groups.map(group => [group.name, group]))
  for (const named of totals) {
    let group = byName.get(named.name)
    if (group === undefined) {
      group = { name: named.name, closedOnly: true, live: 0, oldestAgeMs: 0, sites: new Map() }
      byName.set(named.name, group)
    }
    // max(): a counter read after the report can only be ahead of it.
    for (const key of COUNTERS) group[key] = Math.max(group[key] || 0, named[key])
  }
  return [...byName.values()]
}

/**
 * `{ live: [{ labels, value }], inserts: [...], ... }`: the samples of every
 * family for `report` (a registry report), at most `sitesPerMap` site series
 * per map name. `totals` (from counterTotals()) carry the counters of closed
 * maps; `labels` are constant labels put first on every series.
 */
function collectSamples (report, sitesPerMap = DEFAULT_SITES_PER_MAP, { totals = [], labels: constant = {} } = {}) {
  const samples = Object.fromEntries(FAMILIES.map(family => [family.key, []]))
  for (const group of withTotals(groupByName(report.maps), totals)) {
    const labels = { ...constant, map: group.name }
    samples.inserts.push({ labels, value: group.inserts })
    samples.removes.push({ labels, value: group.removes })
    samples.expired.push({ labels, value: group.expired })
    if (group.closedOnly) continue // gauges describe live maps only
    samples.live.push({ labels, value: group.live })
    samples.oldestAgeSeconds.push({ labels, value: group.oldestAgeMs / 1000 })
    for (const [site, figures] of topSites(group.sites, sitesPerMap)) {
      const labels = { ...constant, map: group.name, site }
      samples.siteLive.push({ labels, value: figures.live })
      samples.siteSuspect.push({ labels, value: figures.suspect ? 1 : 0 })
      for (const caller of figures.callers.values()) samples.callerSuspect.push({ labels: { ...labels, ...caller.labels }, value: caller.live })
      if (figures.lifetime === null) continue
      for (const [stat, key] of LIFETIME_STATS) {
        samples.siteLifetime.push({ labels: { ...labels, stat }, value: figures.lifetime[key] / 1000 })
      }
    }
  }
  return samples
}

// Exposition format 0.0.4: in label values \ " and newline are escaped; in
// HELP text only \ and newline.
function escapeLabelValue (value) {
  return String(value).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function escapeHelp (text) {
  return String(text).replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function formatValue (value) {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

function formatLabels (labels) {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`
}

/**
 * The text exposition format (0.0.4) of a registry report, HELP and TYPE
 * included. `map` is the name the report was filtered on, if any: the
 * counters of closed maps are read for that name only.
 */
function renderMetrics (report, { sitesPerMap = DEFAULT_SITES_PER_MAP, map, totals = counterTotals(map) } = {}) {
  const samples = collectSamples(report, sitesPerMap, { totals })
  const lines = []
  for (const family of FAMILIES) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`)
    for (const sample of samples[family.key]) lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`)
  }
  return lines.join('\n') + '\n'
}

function checkSitesPerMap (value, where) {
  if (!(Number.isInteger(value) && value >= 0 && value <= MAX_SITES_PER_MAP)) {
    throw new RangeError(`${where} must be an integer from 0 to ${MAX_SITES_PER_MAP}, got ${String(value)}`)
  }
  return value
}

const HELPER_OPTIONS = new Set(['registry', 'sitesPerMap', 'map', 'prefix', 'labels'])
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** `prefix` as prom-client's collectDefaultMetrics takes it: prepended to every name. */
function checkPrefix (prefix) {
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_NAME.test(prefix))) {
    throw new TypeError(`registerMetrics option 'prefix' must be a string of metric-name characters ([a-zA-Z0-9_:], not starting with a digit), got ${JSON.stringify(String(prefix))}`)
  }
  return prefix
}

/** `labels` as collectDefaultMetrics takes them: constant labels on every series. */
function checkLabels (labels) {
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw new TypeError('registerMetrics option \'labels\' must be an object of label names to values')
  }
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new TypeError(`registerMetrics option 'labels': ${JSON.stringify(name)} is not a valid label name`)
    if (['map', 'site', 'caller', 'rule', 'stat'].includes(name)) throw new TypeError(`registerMetrics option 'labels': '${name}' is a label of handle-ledger's own series`)
    if (typeof value !== 'string' && typeof value !== 'number') throw new TypeError(`registerMetrics option 'labels': the value of '${name}' must be a string or a number`)
  }
  return { ...labels }
}

/**
 * Registers the /debug/handles figures with a prom-client registry:
 * `registerMetrics(require('prom-client'), { registry, sitesPerMap, map, prefix, labels })`.
 * prom-client is passed in (handle-ledger has no dependencies). The figures
 * are read from the handle-ledger registry on each scrape, once for all
 * families. `prefix` and `labels` work as in prom-client's
 * collectDefaultMetrics. Returns `{ names, unregister() }`.
 */
function registerMetrics (client, options = {}) {
  if (client === null || typeof client !== 'object' || typeof client.Gauge !== 'function' || typeof client.Counter !== 'function') {
    throw new TypeError('registerMetrics(client, options): client must be the prom-client module (require(\'prom-client\'))')
  }
  checkOptionNames(options, 'registerMetrics', HELPER_OPTIONS)
  const { registry: target = client.register, sitesPerMap = DEFAULT_SITES_PER_MAP, map, prefix = '', labels = {} } = options
  checkSitesPerMap(sitesPerMap, 'registerMetrics option \'sitesPerMap\'')
  if (map !== undefined && typeof map !== 'string') throw new TypeError('registerMetrics option \'map\' must be a map name (string)')
  const naming = { prefix: checkPrefix(prefix), labels: checkLabels(labels) }
  const read = oncePerScrape(() => collectSamples(registry.report({ map, limit: sitesPerMap }), sitesPerMap, { totals: counterTotals(map), labels: naming.labels }))
  const metrics = FAMILIES.map(family => createMetric(client, target, family, read, naming))
  return {
    names: metrics.map(metric => metric.name),
    unregister () {
      for (const metric of metrics) target.removeSingleMetric(metric.name)
    }
  }
}

function createMetric (client, target, family, read, { prefix, labels }) {
  const isCounter = family.type === 'counter'
  const Metric = isCounter ? client.Counter : client.Gauge
  return new Metric({
    name: prefix + family.name,
    help: family.help,
    labelNames: [...Object.keys(labels), ...family.labelNames],
    registers: [target],
    // Reset first, so series of closed maps and of sites that left the top N vanish.
    collect () {
      this.reset()
      for (const { labels, value } of read()[family.key]) {
        if (isCounter) this.inc(labels, value)
        else this.set(labels, value)
      }
    }
  })
}

// prom-client calls every metric's collect() in one synchronous pass per
// scrape; reading the registry once for that pass keeps the families
// consistent with each other and costs one report per scrape, not six.
function oncePerScrape (read) {
  let cached = null
  return function current () {
    if (cached === null) {
      cached = read()
      queueMicrotask(() => { cached = null })
    }
    return cached
  }
}

module.exports = {
  renderMetrics,
  collectSamples,
  counterTotals,
  registerMetrics,
  escapeLabelValue,
  checkSitesPerMap,
  CONTENT_TYPE,
  DEFAULT_SITES_PER_MAP
}
