'use strict'
// Soak: drive a HandleMap at a high rate for N seconds and check that memory
// stays flat and the live count settles.
//
//   node bench/soak.js --seconds 600 [--ttl 200] [--slope-limit 64] [--json]
//
// The load: every operation inserts a fresh key (set), reads it back (get,
// has) and deletes the key inserted 256 keys earlier, as a server finishes
// its requests; 1% of the keys are never deleted and are left to the TTL.
// Each second it takes a map report and a registry report and creates and
// drops ten short-lived maps (half closed, half left to the GC); every half
// second it samples RSS and the V8 heap, after a full GC.
//
// The first 10 s (--warmup) are a warm-up and not judged: V8 grows its heap
// to the load (RSS climbs from ~45 to ~85 MB), later under CPU contention.
//
// It fails (exit 1) when
// - the RSS slope over the second half of the measured run exceeds the limit
//   (default 64 KB/s; a leak of one byte per key at the measured ~2M keys/s
//   would show as ~2000 KB/s). RSS is sampled twice a second, after a full
//   GC and a 30 ms pause: V8 returns the freed pages to the OS from a
//   background task, and RSS read straight after the GC swung by ~20 MB with
//   its progress (a plain Map churn does the same); after the pause samples
//   stay within ~2 MB. The slope is the least-squares slope of the floor (the
//   lowest sample of each 5 s). A second half that grows less than 4 MB in
//   all passes: on short runs that noise alone reads as a steep slope (4 MB
//   over 30 s = 136 KB/s); from a run of ~2 minutes on, the slope limit is
//   the stricter bound. Or
// - an entry expires early: before the TTL has passed in real (monotonic)
//   time since its set. (An in-flight key may expire legitimately when the
//   process stalls longer than the TTL between its set and its delete; those
//   are counted and reported, not failed.) Or
// - the live count does not settle: a report's live count differs from the
//   map's size, its mean over the second half exceeds 1.5 x the first half's
//   (+1000), or after the load stops (in-flight keys deleted)
//   the map is not empty within TTL + 5 s, or its figures do not balance
//   (inserts = removes + expired, expired = the keys left to expire plus the
//   in-flight keys that expired in stalls).

const { HandleMap, registry } = require('../..')
const { setImmediate: yieldToLoop, setTimeout: sleep } = require('node:timers/promises')
const v8 = require('node:v8')
const vm = require('node:vm')

// A full GC before each sample, so RSS is read with the garbage of the last
// second collected: without it the young generation's churn (10-30 MB here)
// swamps any slope. Not part of the load: one collection a second.
// It is V8's last-resort collection, what V8 does under memory pressure: it
// also shrinks the young generation and hands its pages back. Node 24's V8
// grows the young generation to 2 x 64 MB under this load, and a regular full
// GC leaves those pages resident, so RSS climbed ~100 MB over the first ~40 s
// with a plain Map and no addon at all (Node 20 stays flat: 16 MB semi-spaces).
// V8s without the flavor (Node 20) ignore it and run a regular full GC.
function fullGc () {
  if (typeof global.gc !== 'function') v8.setFlagsFromString('--expose-gc')
  const gc = typeof global.gc === 'function' ? global.gc : vm.runInNewContext('gc')
  return () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })
}

const DEFAULTS = {
  seconds: 60,
  ttlMs: 200,
  warmupSeconds: 10,
  slopeLimitKBps: 64,
  noiseMB: 4,
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
const FLOOR_WINDOW = 5 // seconds per RSS floor point
const SAMPLE_EVERY = 0.5 // seconds between memory samples (reports: every second)
const UNMAP_PAUSE_MS = 30 // after each sample's GC, before reading RSS

/**
 * Judges the memory and live-count samples of a run (`{ t, rss, heap, live }`,
 * t in seconds from the end of the warm-up, negative during it): the RSS
 * floor's slope over the second half, and whether the live count keeps
 * growing. Pure, so the rule itself is tested (__test__/soak.test.js).
 */
function judgeMemory (samples, loadSeconds, options = {}) {
  const o = { ...DEFAULTS, ...options }
  const failures = []
  // Samples of the warm-up (t < 0: V8 sizes its heap to the load) are not judged.
  const measured = samples.filter(s => s.t >= 0)
  const half = measured.filter(s => s.t >= loadSeconds / 2)
  const firstHalf = measured.filter(s => s.t < loadSeconds / 2)
  // The floor of RSS: the lowest sample of each FLOOR_WINDOW-second window.
  // Allocator noise (freed chunks not yet returned to the OS) still lifts
  // single samples by a few MB; a leak lifts the floor.
  const floor = []
  const halfStart = loadSeconds / 2
  for (let from = halfStart; from + FLOOR_WINDOW <= loadSeconds + 0.01; from += FLOOR_WINDOW) {
    const window = half.filter(x => x.t >= from && x.t < from + FLOOR_WINDOW)
    if (window.length === 0) continue
    const low = window.reduce((a, b) => (b.rss < a.rss ? b : a))
    floor.push({ t: from + FLOOR_WINDOW / 2, rss: low.rss })
  }
  const slopeKBps = slope(floor.map(s => s.t), floor.map(s => s.rss / 1024))
  const rawSlopeKBps = slope(half.map(s => s.t), half.map(s => s.rss / 1024))
  const heapSlopeKBps = slope(half.map(s => s.t), half.map(s => s.heap / 1024))
  const peakFirst = Math.max(0, ...firstHalf.map(s => s.live))
  const peakSecond = Math.max(0, ...half.map(s => s.live))
  const mean = list => list.reduce((sum, x) => sum + x.live, 0) / Math.max(1, list.length)
  if (floor.length < 3) failures.push(`too few samples (${half.length} in the second half) to measure a slope: run at least ${6 * FLOOR_WINDOW} s`)
  // Growth within the allocator's noise (a few MB) is tolerated on short runs,
  // where it would read as a steep slope; on long runs the slope limit governs.
  const halfSeconds = half.length > 1 ? half[half.length - 1].t - half[0].t : 0
  const growthMB = slopeKBps * halfSeconds / 1024
  if (slopeKBps > o.slopeLimitKBps && growthMB > o.noiseMB) {
    failures.push(`RSS grows ${slopeKBps.toFixed(1)} KB/s over the second half (${growthMB.toFixed(1)} MB; limit ${o.slopeLimitKBps} KB/s, or ${o.noiseMB} MB in all)`)
  }
  // Settled: the live count hovers around a level (in-flight keys plus the 1%
  // not yet expired); a count that keeps growing moves its mean up.
  if (firstHalf.length > 0 && mean(half) > 1.5 * mean(firstHalf) + 1000) {
    failures.push(`live count keeps growing: mean ${Math.round(mean(firstHalf))} in the first half, ${Math.round(mean(half))} in the second`)
  }
  return { failures, measured, floor, slopeKBps, rawSlopeKBps, heapSlopeKBps, growthMB, peakFirst, peakSecond }
}

/**
 * Runs the soak; resolves with `{ ok, failures, opsPerSec, rssMB, slopeKBps, ... }`.
 * `log` receives one progress line per 10 s (pass `() => {}` for none).
 */
async function soak (options = {}) {
  const o = { ...DEFAULTS, ...options }
  const log = o.log || (() => {})
  const gc = fullGc()
  const start = process.hrtime.bigint()
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9
  const monotonicMs = () => Number(process.hrtime.bigint() - start) / 1e6
  // When each batch of 256 keys began (monotonic ms): a lower bound of each
  // key's insert time, so an expiry can be checked against real time.
  const BATCHES = 1 << 14
  const batchKey = new Float64Array(BATCHES)
  const batchTime = new Float64Array(BATCHES)
  let batches = 0
  const insertedNoEarlierThan = key => {
    let lo = Math.max(0, batches - BATCHES)
    let hi = batches - 1
    if (hi < lo || key < batchKey[lo % BATCHES]) return -Infinity // older than the history: old enough
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (batchKey[mid % BATCHES] <= key) lo = mid
      else hi = mid - 1
    }
    return batchTime[lo % BATCHES]
  }
  // An expiry is early when less than the TTL of real time passed since the
  // key's batch began (1 ms of slack for the ledger's whole-ms clock). An
  // in-flight key may legitimately expire when the process stalls (a loaded
  // machine, a long GC) for longer than the TTL between its set and delete.
  const expiredEarly = []
  const stallExpired = new Set()
  let stallExpiries = 0
  const onExpire = entry => {
    const realAge = monotonicMs() - insertedNoEarlierThan(entry.key)
    if (realAge < o.ttlMs - 1) {
      if (expiredEarly.length < 20) expiredEarly.push({ key: entry.key, ledgerAgeMs: entry.ageMs, realAgeMs: Number(realAge.toFixed(1)), at: Number(elapsed().toFixed(3)) })
    } else if (entry.key % o.keepOneIn !== 0) {
      stallExpired.add(entry.key)
      stallExpiries++
    }
  }
  const map = new HandleMap({ name: 'soak', ttl: o.ttlMs, strict: false, callSites: o.callSites, onExpire })
  const ring = new Array(o.inFlight).fill(undefined)
  let ringAt = 0
  let next = 0
  let ops = 0
  let leftToExpire = 0
  const samples = [] // { t, rss, heap, heapTotal, external, live, size }
  let nextSample = 0
  let reports = 0
  let churned = 0

  let lastLive = 0
  const liveMismatches = []
  let nextReport = 0
  const sample = async () => {
    if (elapsed() >= nextReport) {
      nextReport = Math.floor(elapsed()) + 1
      const report = map.report({ limit: 5 })
      const all = registry.report({ limit: 5 })
      reports += 2
      lastLive = report.live
      if (report.live !== map.size && liveMismatches.length < 5) liveMismatches.push(`report live ${report.live}, size ${map.size} at ${elapsed().toFixed(1)} s`)
      if (!all.maps.some(m => m.id === report.id)) throw new Error('soak map missing from registry.report()')
      churn()
    }
    gc()
    // V8 hands the pages a GC freed back to the OS from a background task:
    // RSS read at once swings by ~20 MB with its progress (a plain Map churn
    // shows the same). A short pause lets it finish, so the floor is real.
    await sleep(UNMAP_PAUSE_MS)
    const mem = process.memoryUsage()
    samples.push({ t: elapsed() - o.warmupSeconds, rss: mem.rss, heap: mem.heapUsed, heapTotal: mem.heapTotal, external: mem.external, live: lastLive, size: map.size })
  }
  // Short-lived maps: registry and native ledger churn must not leak either.
  const churn = () => {
    for (let i = 0; i < o.churnMaps; i++) {
      const m = new HandleMap({ name: `soak-churn-${churned++ % 1000}`, ttl: 50, strict: false })
      for (let k = 0; k < 20; k++) m.set(`k${k}`, { k })
      m.delete('k0')
      if (i % 2 === 0) m.close()
    }
  }

  const rssBeforeWarmup = process.memoryUsage().rss
  let opsAtWarm = -1
  while (elapsed() < o.warmupSeconds + o.seconds) {
    if (opsAtWarm < 0 && elapsed() >= o.warmupSeconds) opsAtWarm = ops
    // ~5 ms of work, then let timers (the map's ticks) run.
    const sliceEnd = Date.now() + 5
    do {
      batchKey[batches % BATCHES] = next
      batchTime[batches % BATCHES] = monotonicMs()
      batches++
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
          if (!map.delete(old) && !stallExpired.delete(old)) {
            throw new Error(`soak: in-flight key ${old} (set ${next - old} keys ago) was gone before its delete, and did not expire; ` +
              `early expiries: ${JSON.stringify(expiredEarly)}`)
          }
          ops++
        }
      }
    } while (Date.now() < sliceEnd)
    if (elapsed() >= nextSample) {
      await sample()
      if (samples.length % (10 / SAMPLE_EVERY) === 0) {
        const s = samples[samples.length - 1]
        log(`  ${s.t.toFixed(0)}s${s.t < 0 ? ' (warm-up)' : ''}  ${(ops / elapsed() / 1e6).toFixed(2)}M ops/s  rss ${(s.rss / MB).toFixed(1)} MB  heap ${(s.heap / MB).toFixed(1)} MB  live ${s.live}`)
      }
      nextSample = (Math.floor(elapsed() / SAMPLE_EVERY) + 1) * SAMPLE_EVERY
    }
    await yieldToLoop()
  }
  const loadSeconds = elapsed() - o.warmupSeconds
  nextReport = 0
  await sample()

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
  if (final.expired !== leftToExpire + stallExpiries) {
    failures.push(`expired ${final.expired}, but ${leftToExpire} keys were left to expire (and ${stallExpiries} in-flight keys expired during stalls)`)
  }
  if (final.inserts !== next) failures.push(`inserts ${final.inserts}, but ${next} keys were set`)
  if (liveMismatches.length > 0) failures.push(`the report's live count differs from the map's size: ${liveMismatches.join('; ')}`)
  if (expiredEarly.length > 0) failures.push(`in-flight keys expired before their TTL: ${JSON.stringify(expiredEarly)}`)
  map.close()

  const memory = judgeMemory(samples, loadSeconds, o)
  failures.push(...memory.failures)
  const { measured, slopeKBps, rawSlopeKBps, heapSlopeKBps, growthMB, peakFirst, peakSecond } = memory
  const at = t => measured.reduce((best, s) => Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best, measured[0])
  return {
    ok: failures.length === 0,
    failures,
    seconds: loadSeconds,
    ops: ops - Math.max(0, opsAtWarm),
    opsPerSec: (ops - Math.max(0, opsAtWarm)) / loadSeconds,
    reports,
    mapsChurned: churned,
    keysSet: next,
    leftToExpire,
    stallExpiries,
    expired: final.expired,
    peakLive: Math.max(peakFirst, peakSecond),
    rssBeforeWarmupMB: rssBeforeWarmup / MB,
    rssMB: { start: at(0).rss / MB, middle: at(loadSeconds / 2).rss / MB, end: measured[measured.length - 1].rss / MB },
    heapMB: { start: at(0).heap / MB, middle: at(loadSeconds / 2).heap / MB, end: measured[measured.length - 1].heap / MB },
    growthMB,
    noiseMB: o.noiseMB,
    warmupSeconds: o.warmupSeconds,
    slopeKBps,
    rawSlopeKBps,
    heapSlopeKBps,
    slopeLimitKBps: o.slopeLimitKBps,
    samples
  }
}

module.exports = { soak, slope, judgeMemory, DEFAULTS, FLOOR_WINDOW }
