'use strict'
// The growth rule of registry.diff() and ?seconds=N: a site whose live count
// grows over the window while removes go on, and whose oldest entry has lived
// through the window and past the site's normal lifetime, is suspect. A ramp
// in load and a map of long sessions grow live too, and are not.

const test = require('node:test')
const assert = require('node:assert/strict')
const { HandleMap, registry } = require('..')

const WINDOW_MS = 30_000
const SHORT_WINDOW_MS = 8_000
// The report's own rules set aside (a floor past every entry's age), so the
// growth rule is what judges.
const GROWTH_ONLY = { outlierFloorMs: 3_600_000 }

// A map on a fake clock; `run(ms)` moves time on in 10 ms steps, calling
// `step(now)` at each, so lifetimes and ages are exact.
function scene (name) {
  let now = 0
  const map = new HandleMap({ name, callSites: 'all', clock: () => now, strict: false })
  return {
    map,
    run (ms, step) {
      for (const end = now + ms; now < end; now += 10) step(now)
    }
  }
}

// A snapshot of one map, with `at` set to the scene's window (the registry
// stamps snapshots with the wall clock; the map's ages run on its own clock).
function snapshotAt (name, at, options = {}) {
  const snapshot = registry.snapshot({ map: name, ...options })
  snapshot.at = at
  return snapshot
}

function siteOf (diff, name) {
  const map = diff.maps.find(m => m.name === name)
  assert.ok(map, `${name} is in the diff`)
  assert.equal(map.sites.length, 1, JSON.stringify(map.sites))
  return map.sites[0]
}

test('a cleanup lost on one call in ten grows live through the window: suspect by growth, with the figures', () => {
  const { map, run } = scene('growth-leak')
  let id = 0
  const inFlight = []
  const traffic = () => {
    const key = id++
    map.set(key, {})
    // Every call ends 20 ms later, but one in ten never removes its entry.
    inFlight.push([key, key % 10 === 7])
    if (inFlight.length > 2) {
      const [done, lost] = inFlight.shift()
      if (!lost) map.delete(done)
    }
  }
  run(1_000, traffic)
  const older = snapshotAt('growth-leak', 0, GROWTH_ONLY)
  run(SHORT_WINDOW_MS, traffic)
  const report = map.report()
  const site = siteOf(registry.diff(older, snapshotAt('growth-leak', SHORT_WINDOW_MS, GROWTH_ONLY)), 'growth-leak')
  const withRules = siteOf(registry.diff(older, snapshotAt('growth-leak', SHORT_WINDOW_MS)), 'growth-leak')
  map.close()
  assert.equal(site.growth, true)
  assert.equal(site.suspect, true)
  assert.ok(site.liveDelta >= 70, `live grew by ${site.liveDelta}`)
  assert.deepEqual(site.verdict, {
    rule: 'growth',
    scope: 'site',
    grown: site.liveDelta,
    from: site.live - site.liveDelta,
    to: site.live,
    windowMs: SHORT_WINDOW_MS,
    removed: site.removesDelta,
    oldestMs: 8_930,
    p99Ms: 20,
    estimated: false
  })
  assert.match(site.reason, new RegExp(`^live grew by ${site.liveDelta} \\(\\d+ -> ${site.live}\\) in 8\\.0 s while ${site.removesDelta} were removed; the oldest has lived 8\\.9 s, through the whole window; entries of this site are normally removed within 20 ms \\(p99\\)$`))
  // The report's own rules flag the lost entries as outliers long before (seconds, not a 10 s floor),
  // and a diff then carries the report's verdict.
  assert.equal(report.sites[0].verdict.rule, 'outliers', report.sites[0].reason)
  assert.deepEqual([withRules.suspect, withRules.growth, withRules.verdict.rule], [true, true, 'outliers'])
})

test('a ramp in load grows live, but its entries stay young: not suspect', () => {
  const { map, run } = scene('growth-ramp')
  let id = 0
  const inFlight = []
  let concurrency = 2
  const traffic = now => {
    // Concurrency doubles every 5 s: live grows from 2 to 128 in flight.
    concurrency = 2 ** (1 + Math.floor(now / 5_000))
    const key = id++
    map.set(key, {})
    inFlight.push(key)
    while (inFlight.length > Math.min(concurrency, 128)) map.delete(inFlight.shift())
  }
  run(5_000, traffic)
  const older = snapshotAt('growth-ramp', 0)
  run(WINDOW_MS, traffic)
  const site = siteOf(registry.diff(older, snapshotAt('growth-ramp', WINDOW_MS)), 'growth-ramp')
  map.close()
  assert.ok(site.liveDelta > 100, `live grew by ${site.liveDelta}: the rule had growth to judge`)
  assert.equal(site.growth, false)
  assert.equal(site.suspect, false, site.reason)
})

test('sessions that normally outlive the window are not suspect while they pile up', () => {
  const { map, run } = scene('growth-sessions')
  let id = 0
  const open = []
  let every = 100
  // Sessions last 60 s; one opens every `every` ms.
  const traffic = now => {
    if (now % every === 0) {
      open.push([id, now])
      map.set(id++, {})
    }
    while (open.length > 0 && now - open[0][1] >= 60_000) map.delete(open.shift()[0])
  }
  run(120_000, traffic)
  const older = snapshotAt('growth-sessions', 0)
  // The load doubles: more sessions are open at the end than at the start.
  every = 50
  run(WINDOW_MS, traffic)
  const site = siteOf(registry.diff(older, snapshotAt('growth-sessions', WINDOW_MS)), 'growth-sessions')
  map.close()
  assert.ok(site.liveDelta > 100 && site.removesDelta > 0, JSON.stringify(site))
  assert.equal(site.growth, false)
  assert.equal(site.suspect, false, site.reason)
})
