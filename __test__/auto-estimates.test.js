'use strict'
// callSites 'auto' once it samples: per-site figures are estimates, and over
// 1M inserts they must stay within 10% of the truth for every site with at
// least 1% of the inserts. The sampler's randomness (the `random` option)
// and its capture clock (a test hook) are both replayed, so this run is the
// same on any machine and any load.
const test = require('node:test')
const assert = require('node:assert/strict')
const { HandleMap } = require('..')
const { internals } = require('../lib/map/handle-map.js')

function seeded (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// One function per insert site; each site keeps a different share of its
// entries (the rest are removed at once), so live figures differ per site.
function siteA (map, key) { map.set(key, key) }
function siteB (map, key) { map.set(key, key) }
function siteC (map, key) { map.set(key, key) }
function siteD (map, key) { map.set(key, key) }
function siteE (map, key) { map.set(key, key) }
function siteF (map, key) { map.set(key, key) }

const INSERTS = 1_000_000
// Simulated time: 50 us an insert, 200 us a capture; at a budget of 0.5
// a capture can be afforded about every 8 inserts.
const INSERT_MS = 0.05
const CAPTURE_MS = 0.2

/** A map in 'auto' whose captures are timed on a simulated clock. */
function simulatedMap (name) {
  let now = 0
  const map = new HandleMap({ name, callSites: 'auto', captureBudget: 0.5, random: seeded(42), strict: false })
  // Each read of the capture clock is the start or the end of one capture.
  let reads = 0
  internals.useCaptureClock(map, () => {
    if (reads++ % 2 === 1) now += CAPTURE_MS
    return now
  })
  return { map, advance: () => { now += INSERT_MS } }
}

/**
 * Runs `inserts` inserts through `pickSite(i)` -> [insert function, keep
 * probability]. Returns the truth per site name.
 */
function run (map, advance, inserts, pickSite, random) {
  const truth = new Map()
  for (let i = 0; i < inserts; i++) {
    const [insert, keep] = pickSite(i)
    advance()
    insert(map, i)
    const kept = random() < keep
    if (!kept) map.delete(i)
    const figures = truth.get(insert.name) || { inserts: 0, live: 0 }
    figures.inserts++
    if (kept) figures.live++
    truth.set(insert.name, figures)
  }
  return truth
}

function assertWithinTenPercent (map, truth) {
  const report = map.report({ limit: Infinity })
  assert.equal(report.inserts, INSERTS, 'map totals are exact')
  assert.equal(report.estimated, true, 'the run sampled (or it proves nothing)')
  const checked = []
  for (const [name, exact] of truth) {
    if (exact.inserts < INSERTS / 100) continue
    const site = report.sites.find(s => s.site.startsWith(`${name} `))
    assert.ok(site, `${name} is in the report`)
    for (const figure of ['inserts', 'live']) {
      const error = Math.abs(site[figure] - exact[figure]) / exact[figure]
      checked.push(`${name}.${figure} ${site[figure]} vs ${exact[figure]} (${(100 * error).toFixed(1)}%)`)
      assert.ok(error <= 0.1, `${name} ${figure}: estimated ${site[figure]}, truly ${exact[figure]}\n${checked.join('\n')}`)
    }
  }
  return checked
}

test('stationary traffic: per-site inserts and live within 10% over 1M inserts (seeded)', t => {
  const { map, advance } = simulatedMap('estimates.stationary')
  const workload = seeded(7)
  // [site, share of inserts, share kept live]
  const sites = [[siteA, 0.50, 0.02], [siteB, 0.25, 0.10], [siteC, 0.15, 0.05], [siteD, 0.06, 0.30], [siteE, 0.03, 0.50], [siteF, 0.01, 0.90]]
  const pick = () => {
    let u = workload()
    for (const [insert, share, keep] of sites) {
      if (u < share) return [insert, keep]
      u -= share
    }
    return [siteA, 0.02]
  }
  try {
    const truth = run(map, advance, INSERTS, pick, workload)
    t.diagnostic(assertWithinTenPercent(map, truth).join('; '))
  } finally {
    map.close()
  }
})

// Each recorded insert weighs the inserts it stands for, so a site recorded
// only in the start-up burst is not multiplied by the later sampling rate.
function siteEarly (map, key) { map.set(key, key) }

test('non-stationary traffic: a site active only during the early all-recorded burst is not scaled up (seeded)', t => {
  const { map, advance } = simulatedMap('estimates.early')
  const workload = seeded(11)
  const EARLY = 20_000 // 2% of the inserts, all at the start, most of them in the start-up burst where every insert is recorded
  const later = [[siteA, 0.6, 0.02], [siteB, 0.3, 0.1], [siteC, 0.1, 0.5]]
  const pick = i => {
    if (i < EARLY) return [siteEarly, 0.5]
    let u = workload()
    for (const [insert, share, keep] of later) {
      if (u < share) return [insert, keep]
      u -= share
    }
    return [siteA, 0.02]
  }
  try {
    const truth = run(map, advance, INSERTS, pick, workload)
    t.diagnostic(assertWithinTenPercent(map, truth).join('; '))
  } finally {
    map.close()
  }
})
