'use strict'
// Soak: memory stays flat. Runs the soak (support/soak.js, also `npm run soak`) at its short
// CI length (SOAK_SECONDS, default 50 s measured after a 10 s warm-up): a
// HandleMap at full speed (set/get/has/delete, 1% left to a 200 ms TTL,
// reports every second, short-lived maps created and dropped), failing when
// the RSS floor grows over the second half (64 KB/s, or 4 MB on short runs),
// when an entry expires early, or when the live count does not settle. The
// judging rule itself is checked on synthetic series, so it is known to fail
// on a leak. Longer runs: npm run soak -- --seconds 600.

const test = require('node:test')
const assert = require('node:assert/strict')
const { soak, judgeMemory, slope } = require('./support/soak.js')

const SECONDS = Number(process.env.SOAK_SECONDS) || 50
const MB = 1024 * 1024

test(`soak ${SECONDS} s: RSS flat over the second half, no early expiry, the live count settles`, { timeout: (SECONDS + 120) * 1000 }, async t => {
  const result = await soak({ seconds: SECONDS })
  const f = n => n.toFixed(1)
  t.diagnostic(`${Math.round(result.opsPerSec)} ops/s; RSS MB start ${f(result.rssMB.start)} middle ${f(result.rssMB.middle)} end ${f(result.rssMB.end)}; ` +
    `slope ${f(result.slopeKBps)} KB/s (${f(result.growthMB)} MB over the second half); heap slope ${f(result.heapSlopeKBps)} KB/s; ` +
    `peak live ${result.peakLive}; expired ${result.expired} (${result.stallExpiries} in stalls)`)
  assert.deepEqual(result.failures, [])
  assert.ok(result.ok)
  assert.ok(result.keysSet > 0 && result.ops > 0)
  assert.equal(result.expired, result.leftToExpire + result.stallExpiries)
  assert.ok(result.reports >= 2 * SECONDS, `a registry and a map report every second (${result.reports})`)
  assert.ok(result.mapsChurned > 0)
  for (const v of [result.rssMB.start, result.rssMB.middle, result.rssMB.end, result.slopeKBps]) assert.ok(Number.isFinite(v))
})

/** A synthetic run: `rssAt(t)` bytes, samples every 0.5 s with allocator spikes. */
function series (seconds, rssAt, live = () => 3000) {
  const samples = []
  let spike = 0
  for (let t = -10; t <= seconds; t += 0.5) {
    spike = (spike * 7 + 3) % 11 // deterministic: every few samples, up to +10 MB
    samples.push({ t, rss: rssAt(t) + (spike > 7 ? spike * MB : 0), heap: 4 * MB, live: live(t) })
  }
  return samples
}

test('the memory rule: flat RSS with spikes passes, a leak fails, a growing live count fails', () => {
  assert.equal(slope([0, 1, 2], [5, 7, 9]), 2)
  const flat = judgeMemory(series(50, () => 90 * MB), 50)
  assert.deepEqual(flat.failures, [])
  assert.ok(Math.abs(flat.slopeKBps) < 1)
  // 200 KB/s for the whole run: 5 MB over a 25 s second half.
  const leak = judgeMemory(series(50, t => 90 * MB + t * 200 * 1024), 50)
  assert.equal(leak.failures.length, 1, String(leak.failures))
  assert.match(leak.failures[0], /RSS grows 200\.0 KB\/s/)
  // A slope within noise on a short run passes; the same slope over 10 minutes fails.
  const slow = t => 90 * MB + t * 100 * 1024
  assert.deepEqual(judgeMemory(series(50, slow), 50).failures, [])
  assert.equal(judgeMemory(series(600, slow), 600).failures.length, 1)
  // Warm-up growth (t < 0) is not judged.
  assert.deepEqual(judgeMemory(series(50, t => (t < 0 ? 50 * MB + (t + 10) * 4 * MB : 90 * MB)), 50).failures, [])
  // The live count keeps growing.
  const growing = judgeMemory(series(50, () => 90 * MB, t => 1000 + t * 1000), 50)
  assert.ok(growing.failures.some(x => /live count keeps growing/.test(x)), String(growing.failures))
  // Too short to judge.
  assert.ok(judgeMemory(series(10, () => 90 * MB), 10).failures.some(x => /too few samples/.test(x)))
})
