'use strict'
// Soak: drive a HandleMap at a high rate for N seconds and check that memory
// stays flat and the live count settles.
//
//   node bench/soak.js --seconds 600 [--ttl 200] [--slope-limit 64] [--json]
//
// The load: every operation inserts a fresh key (set), reads it back (get,
// has) and deletes the key inserted IN_FLIGHT operations earlier, as a server
// finishes its requests; 1% of the keys are never deleted and are left to the
// TTL. Each second it takes a map report and a registry report, creates and
// drops a few short-lived maps (half closed, half left to the GC), and
// samples RSS and the V8 heap.
//
// It fails (exit 1) when
// - the RSS slope over the second half of the run exceeds the limit (default
//   64 KB/s; a leak of one byte per key at the measured ~1M keys/s would show
//   as ~1000 KB/s). RSS is sampled once a second after a full GC; the slope is
//   the least-squares slope of its floor (the lowest sample of each 5 s), as
//   single samples carry allocator spikes of up to ~15 MB. Or
// - the live count does not settle: it grows in the second half beyond twice
//   the first half's peak, or after the load stops (in-flight keys deleted)
//   the map is not empty within TTL + 5 s, or its figures do not balance
//   (inserts = removes + expired, expired = the keys left to expire).

const { HandleMap, registry } = require('..')
const { setImmediate: yieldToLoop, setTimeout: sleep } = require('node:timers/promises')
const v8 = require('node:v8')
const vm = require('node:vm')

// A full GC before each sample, so RSS is read with the garbage of the last
// second collected: without it the young generation's churn (10-30 MB here)
// swamps any slope. Not part of the load: one collection a second.
function fullGc () {
  if (typeof global.gc === 'function') return global.gc
  v8.setFlagsFromString('--expose-gc')
  return vm.runInNewContext('gc')
}

const DEFAULTS = {
  seconds: 60,
  ttlMs: 200,
  slopeLimitKBps: 64,
  keepOneIn: 100, // 1% left to expire
  inFlight: 256,
  churnMaps: 10,
  callSites: 'sampled'
}

/** Least-squares slope of `ys` over `xs` (units of y per unit of x). */
function slope (xs, ys) {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my)
    den += (xs[i] - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

const MB = 1024 * 1024
const FLOOR_WINDOW = 5 // samples (seconds) per RSS floor point

/**
 * Runs the soak; resolves with `{ ok, failures, opsPerSec, rssMB, slopeKBps, ... }`.
 * `log` receives one progress line per 10 s (pass `() => {}` for none).
 */
async function soak (options = {}) {
  const o = { ...DEFAULTS, ...options }
  const log = o.log || (() => {})
  const gc = fullGc()
  // Only the keys left to expire may expire; anything else expired early.
  const expiredEarly = []
  const onExpire = entry => {
    if (entry.key % o.keepOneIn !== 0 && expiredEarly.length < 20) {
      expiredEarly.push({ key: entry.key, ageMs: entry.ageMs, at: elapsed(), next, size: map.size })
    }
  }
  const map = new HandleMap({ name: 'soak', ttl: o.ttlMs, strict: false, callSites: o.callSites, onExpire })
  const start = process.hrtime.bigint()
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9
  const ring = new Array(o.inFlight).fill(undefined)
  let ringAt = 0
  let next = 0
  let ops = 0
  let leftToExpire = 0
  const samples = [] // { t, rss, heap, live, size }
  let nextSample = 0
  let reports = 0
  let churned = 0

  const sample = () => {
    const report = map.report({ limit: 5 })
    const all = registry.report({ limit: 5 })
    reports += 2
    if (!all.maps.some(m => m.id === report.id)) throw new Error('soak map missing from registry.report()')
    // Short-lived maps: registry and native ledger churn must not leak either.
    for (let i = 0; i < o.churnMaps; i++) {
      const m = new HandleMap({ name: `soak-churn-${churned++ % 1000}`, ttl: 50, strict: false })
      for (let k = 0; k < 20; k++) m.set(`k${k}`, { k })
      m.delete('k0')
      if (i % 2 === 0) m.close()
    }
    gc()
    const mem = process.memoryUsage()
    samples.push({ t: elapsed(), rss: mem.rss, heap: mem.heapUsed, live: report.live, size: map.size })
  }

  while (elapsed() < o.seconds) {
    // ~5 ms of work, then let timers (the map's ticks) run.
    const sliceEnd = Date.now() + 5
    do {
      for (let i = 0; i < 256; i++) {
        const key = next++
        const value = { id: key }
        map.set(key, value)
        if (map.get(key) !== value || !map.has(key)) throw new Error(`soak: get/has lost key ${key}`)
        ops += 3
        if (key % o.keepOneIn === 0) {
          leftToExpire++
          continue
        }
        const old = ring[ringAt]
        ring[ringAt] = key
        ringAt = (ringAt + 1) % ring.length
        if (old !== undefined) {
          if (!map.delete(old)) {
            throw new Error(`soak: in-flight key ${old} (set ${next - old} keys ago) was gone before its delete; ` +
              `early expiries: ${JSON.stringify(expiredEarly)}`)
          }
          ops++
        }
      }
    } while (Date.now() < sliceEnd)
    if (elapsed() >= nextSample) {
      sample()
      if (samples.length % 10 === 0) {
        const s = samples[samples.length - 1]
        log(`  ${s.t.toFixed(0)}s  ${(ops / s.t / 1e6).toFixed(2)}M ops/s  rss ${(s.rss / MB).toFixed(1)} MB  heap ${(s.heap / MB).toFixed(1)} MB  live ${s.live}`)
      }
      nextSample = Math.floor(elapsed()) + 1
    }
    await yieldToLoop()
  }
  const loadSeconds = elapsed()
  sample()

  // Stop: finish the in-flight keys; what is left must expire by the TTL.
  for (const key of ring) if (key !== undefined) map.delete(key)
  const failures = []
  const settleDeadline = Date.now() + o.ttlMs + 5000
  while (map.size > 0 && Date.now() < settleDeadline) await sleep(20)
  const final = map.report()
  if (map.size !== 0 || final.live !== 0) {
    failures.push(`live count did not settle: size ${map.size}, report live ${final.live} ${o.ttlMs + 5000} ms after the load stopped`)
  }
  if (final.inserts !== final.removes + final.expired) {
    failures.push(`figures do not balance: inserts ${final.inserts} != removes ${final.removes} + expired ${final.expired}`)
  }
  if (final.expired !== leftToExpire) {
    failures.push(`expired ${final.expired}, but ${leftToExpire} keys were left to expire`)
  }
  if (final.inserts !== next) failures.push(`inserts ${final.inserts}, but ${next} keys were set`)
  if (expiredEarly.length > 0) failures.push(`in-flight keys expired before their TTL: ${JSON.stringify(expiredEarly)}`)
  map.close()

  const half = samples.filter(s => s.t >= loadSeconds / 2)
  const firstHalf = samples.filter(s => s.t < loadSeconds / 2)
  // The floor of RSS: the lowest sample of each FLOOR_WINDOW-second window.
  // Allocator noise (freed native chunks not yet returned to the OS) adds
  // spikes of up to ~15 MB to single samples; a leak lifts the floor.
  const floor = []
  for (let i = 0; i + FLOOR_WINDOW <= half.length; i += FLOOR_WINDOW) {
    const window = half.slice(i, i + FLOOR_WINDOW)
    const low = window.reduce((a, b) => (b.rss < a.rss ? b : a))
    floor.push({ t: window.reduce((sum, x) => sum + x.t, 0) / window.length, rss: low.rss })
  }
  const slopeKBps = slope(floor.map(s => s.t), floor.map(s => s.rss / 1024))
  const rawSlopeKBps = slope(half.map(s => s.t), half.map(s => s.rss / 1024))
  const heapSlopeKBps = slope(half.map(s => s.t), half.map(s => s.heap / 1024))
  const peakFirst = Math.max(0, ...firstHalf.map(s => s.live))
  const peakSecond = Math.max(0, ...half.map(s => s.live))
  if (floor.length < 3) failures.push(`too few samples (${half.length} in the second half) to measure a slope: run at least ${6 * FLOOR_WINDOW} s`)
  if (slopeKBps > o.slopeLimitKBps) {
    failures.push(`RSS grows ${slopeKBps.toFixed(1)} KB/s over the second half (limit ${o.slopeLimitKBps} KB/s)`)
  }
  if (firstHalf.length > 0 && peakSecond > 2 * peakFirst + 1000) {
    failures.push(`live count keeps growing: peak ${peakFirst} in the first half, ${peakSecond} in the second`)
  }
  const at = t => samples.reduce((best, s) => Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best, samples[0])
  return {
    ok: failures.length === 0,
    failures,
    seconds: loadSeconds,
    ops,
    opsPerSec: ops / loadSeconds,
    reports,
    mapsChurned: churned,
    keysSet: next,
    leftToExpire,
    expired: final.expired,
    peakLive: Math.max(peakFirst, peakSecond),
    rssMB: { start: samples[0].rss / MB, middle: at(loadSeconds / 2).rss / MB, end: samples[samples.length - 1].rss / MB },
    heapMB: { start: samples[0].heap / MB, middle: at(loadSeconds / 2).heap / MB, end: samples[samples.length - 1].heap / MB },
    slopeKBps,
    rawSlopeKBps,
    heapSlopeKBps,
    slopeLimitKBps: o.slopeLimitKBps,
    samples
  }
}

function parseArgs (argv) {
  const options = {}
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const v = Number(argv[++i])
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${arg} needs a positive number`)
      return v
    }
    if (arg === '--seconds') options.seconds = value()
    else if (arg === '--ttl') options.ttlMs = value()
    else if (arg === '--slope-limit') options.slopeLimitKBps = value()
    else if (arg === '--call-sites') options.callSites = argv[++i]
    else if (arg === '--json') json = true
    else throw new Error(`unknown argument ${arg} (use --seconds N [--ttl ms] [--slope-limit KB/s] [--call-sites all|sampled|off] [--json])`)
  }
  return { options, json }
}

async function main () {
  const { options, json } = parseArgs(process.argv.slice(2))
  const o = { ...DEFAULTS, ...options }
  console.log(`soak: ${o.seconds}s, ttl ${o.ttlMs} ms, 1 in ${o.keepOneIn} keys left to expire, callSites ${o.callSites}, RSS slope limit ${o.slopeLimitKBps} KB/s (node ${process.version})`)
  const result = await soak({ ...options, log: line => console.log(line) })
  const f = n => n.toFixed(1)
  console.log(`ops: ${result.ops} in ${f(result.seconds)} s = ${(result.opsPerSec / 1e6).toFixed(2)}M ops/s (set+get+has+delete), ${result.keysSet} keys, ${result.reports} reports, ${result.mapsChurned} short-lived maps`)
  console.log(`RSS MB: start ${f(result.rssMB.start)}  middle ${f(result.rssMB.middle)}  end ${f(result.rssMB.end)}   heap MB: start ${f(result.heapMB.start)}  middle ${f(result.heapMB.middle)}  end ${f(result.heapMB.end)}`)
  console.log(`RSS slope over the second half: ${f(result.slopeKBps)} KB/s (floor of each ${FLOOR_WINDOW} s, limit ${result.slopeLimitKBps}); all samples ${f(result.rawSlopeKBps)} KB/s; heap (after GC) ${f(result.heapSlopeKBps)} KB/s`)
  console.log(`live: peak ${result.peakLive}; after the load stopped: ${result.expired} expired of ${result.leftToExpire} left to expire, map empty: ${result.failures.every(x => !x.startsWith('live count did not settle'))}`)
  if (!result.ok) {
    for (const failure of result.failures) console.error(`FAIL: ${failure}`)
    process.exitCode = 1
  } else {
    console.log('soak: ok')
  }
  // Last line: the whole result, samples as [t s, rss bytes, heap bytes, live].
  if (json) console.log(JSON.stringify({ ...result, samples: result.samples.map(s => [Number(s.t.toFixed(2)), s.rss, s.heap, s.live]) }))
}

module.exports = { soak, slope, DEFAULTS }

if (require.main === module) {
  main().catch(error => {
    console.error(error)
    process.exitCode = 1
  })
}
