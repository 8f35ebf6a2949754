'use strict'
// The map's clock (lib/map/clock.js): TTL and ages run on a monotonic clock,
// stamped from a coarse millisecond clock a native thread keeps in memory,
// never early, and lifetimes exact to about a millisecond at the defaults.

const test = require('node:test')
const assert = require('node:assert/strict')
const { HandleMap, registry } = require('..')

let serial = 0
const uniqueName = prefix => `${prefix}-${process.pid}-${++serial}`

// ---- time ---------------------------------------------------------------------------

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function eventually (what, check, timeoutMs = 10_000) {
  const started = performance.now()
  while (!check()) {
    if (performance.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`)
    await sleep(10)
  }
}

/** Runs `body` with Date.now() reading `offsetMs` off the real wall clock. */
async function withWallClockStepped (offsetMs, body) {
  const realNow = Date.now
  Date.now = () => realNow() + offsetMs
  try {
    return await body()
  } finally {
    Date.now = realNow
  }
}

test('TTL runs on a monotonic clock: the wall clock stepped forward expires nothing early', async () => {
  const expired = []
  const map = new HandleMap({ name: uniqueName('step-forward'), ttl: 5_000, flushInterval: 5, strict: false, onExpire: entry => expired.push(entry.key) })
  for (const key of ['a', 'b', 'c']) map.set(key, key)
  await sleep(20) // drained: the entries have their stamps
  await withWallClockStepped(60_000, async () => {
    await sleep(100) // many ticks with the wall clock a minute ahead
    assert.equal(map.purgeExpired(), 0)
  })
  assert.deepEqual(expired, [])
  assert.equal(map.size, 3)
  assert.ok(map.info('a').ageMs < 5_000, 'ages are not a minute ahead either')
  map.close()
})

test('TTL runs on a monotonic clock: the wall clock stepped back an hour does not hold entries', async () => {
  const expired = []
  const map = new HandleMap({ name: uniqueName('step-back'), ttl: 50, flushInterval: 5, strict: false, onExpire: entry => expired.push(entry.key) })
  for (const key of ['a', 'b', 'c']) map.set(key, key)
  await sleep(20)
  await withWallClockStepped(-3_600_000, async () => {
    await eventually('entries expire on the map\'s timer', () => expired.length === 3)
  })
  assert.equal(map.size, 0)
  map.close()
})

test('info().insertedAt is wall-clock time for display; ages come from the monotonic clock', async () => {
  const map = new HandleMap({ name: uniqueName('inserted-at'), strict: false })
  const before = Date.now()
  map.set('k', 1)
  const { insertedAt, ageMs } = map.info('k')
  // A coarse stamp is a tick ahead, or behind by as long as the clock's
  // thread waited for a core (a loaded machine): about, not exactly.
  assert.ok(insertedAt >= before - 50 && insertedAt <= Date.now() + 2, `${insertedAt} is about ${before}`)
  await withWallClockStepped(-3_600_000, async () => {
    const info = map.info('k')
    assert.ok(info.ageMs >= ageMs && info.ageMs < 60_000, `age ${info.ageMs} is not an hour off`)
    assert.ok(info.insertedAt < before - 3_000_000, 'insertedAt follows the wall clock shown')
  })
  map.close()
})

test('a custom clock keeps working, stepped both ways', () => {
  const clock = { now: 1_000_000 }
  const map = new HandleMap({ name: uniqueName('custom-steps'), ttl: 1000, clock: () => clock.now, strict: false, flushInterval: 60_000 })
  map.set('a', 1)
  clock.now -= 500_000 // back: no expiry, age 0, not 49 days
  assert.equal(map.purgeExpired(), 0)
  assert.equal(map.info('a').ageMs, 0)
  clock.now = 1_000_999
  assert.equal(map.purgeExpired(), 0)
  clock.now = 1_001_000
  assert.equal(map.purgeExpired(), 1)
  map.close()
})

test('expiry is never early, to the sub-millisecond (custom clock)', () => {
  const clock = { now: 100.3 }
  const map = new HandleMap({ name: uniqueName('sub-ms'), ttl: 10, clock: () => clock.now, strict: false, flushInterval: 60_000 })
  map.set('k', 1)
  for (const early of [110.1, 110.29, 110.299]) {
    clock.now = early
    assert.equal(map.purgeExpired(), 0, `${early - 100.3} ms after the insert`)
  }
  clock.now = 111
  assert.equal(map.purgeExpired(), 1)
  map.close()
})

test('expiry is never early, to the sub-millisecond (default clock)', () => {
  const realNow = performance.now
  const base = Math.floor(performance.timeOrigin + realNow.call(performance)) + 1000
  let fake = base + 0.3
  performance.now = () => fake - performance.timeOrigin
  try {
    const map = new HandleMap({ name: uniqueName('sub-ms-default'), ttl: 10, strict: false, flushInterval: 60_000 })
    map.set('k', 1)
    map.info('k') // drained at base + 0.3
    for (const early of [9.8, 9.9, 9.99]) {
      fake = base + 0.3 + early
      assert.equal(map.purgeExpired(), 0, `${early} ms after the insert`)
    }
    fake = base + 0.3 + 10.7
    assert.equal(map.purgeExpired(), 1)
    map.close()
  } finally {
    performance.now = realNow
  }
})

test('ages beyond 2^32 ms (49.7 days): info, report, site and Prometheus gauge', () => {
  const { renderMetrics } = require('../lib/http/prometheus.js')
  const start = 5_000_000
  for (const [how, steps] of [['in one jump', 1], ['in 2^28 ms steps', 17]]) {
    const clock = { now: start }
    const map = new HandleMap({ name: uniqueName('old'), callSites: 'all', clock: () => clock.now, strict: false, flushInterval: 60_000 })
    map.set('old', 1)
    const target = start + 2 ** 32 + 12_345
    for (let step = 1; step <= steps; step++) {
      clock.now = step === steps ? target : start + step * 2 ** 28
      map.set(`young ${step}`, step) // each step drained with an operation
      map.report()
    }
    const age = target - start
    assert.equal(map.info('old').ageMs, age, how)
    assert.equal(map.info('old').insertedAt, start, how)
    const report = map.report()
    assert.equal(report.oldestAgeMs, age, how)
    assert.equal(Math.max(...report.sites.map(site => site.oldestAgeMs)), age, how)
    assert.equal(map.info(`young ${steps}`).ageMs, 0, how)
    const gauge = renderMetrics(registry.report({ map: map.name })).split('\n')
      .find(line => line.startsWith('handle_ledger_oldest_age_seconds{'))
    assert.equal(Number(gauge.split(' ').at(-1)), age / 1000, how)
    // Freed and reused, the old entry's time goes with it.
    map.delete('old')
    map.set('again', 2)
    assert.equal(map.info('again').ageMs, 0, how)
    map.close()
  }
})

test('a worker\'s map read from the main thread ages by the worker\'s clock', async () => {
  const { Worker } = require('node:worker_threads')
  const name = uniqueName('worker-age')
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads')
    const { HandleMap } = require(${JSON.stringify(require.resolve('..'))})
    const map = new HandleMap({ name: ${JSON.stringify(name)}, strict: false })
    map.set('k', 1)
    map.report() // drained
    parentPort.postMessage('inserted')
    parentPort.once('message', () => process.exit(0))
  `, { eval: true })
  await new Promise(resolve => worker.once('message', resolve))
  const firstAt = performance.now()
  const first = registry.report({ map: name }).maps[0].oldestAgeMs
  await sleep(300)
  const secondAt = performance.now()
  const second = registry.report({ map: name }).maps[0].oldestAgeMs
  assert.ok(second - first >= Math.floor(secondAt - firstAt) - 2, `an idle worker map ages between reads (${first} then ${second})`)
  await withWallClockStepped(-3_600_000, async () => {
    const stepped = registry.report({ map: name }).maps[0].oldestAgeMs
    assert.ok(stepped >= second, `${stepped} after ${second}`)
  })
  worker.postMessage('done')
  await new Promise(resolve => worker.once('exit', resolve))
})

test('an entry stamped 2^32 ms after the last expiry tick is not expired early', () => {
  const clock = { now: 1000 }
  const map = new HandleMap({ name: uniqueName('far-stamp'), ttl: 50, clock: () => clock.now, strict: false, flushInterval: 60_000 })
  map.set('early', 1)
  clock.now += 2 ** 32
  map.set('late', 2) // stamped far past the time expiry last advanced to
  assert.equal(map.purgeExpired(), 1, 'only the entry inserted 2^32 ms ago')
  assert.deepEqual([...map.keys()], ['late'])
  clock.now += 49
  assert.equal(map.purgeExpired(), 0)
  clock.now += 1
  assert.equal(map.purgeExpired(), 1)
  map.close()
})

test('lifetimes at the defaults are the calls\' own, not rounded to the flush interval', async () => {
  // flushInterval 1000 ms: before the coarse clock, every entry of a drain
  // was stamped with the drain's time, and these read 0 ms or 1000 ms.
  const map = new HandleMap({ name: uniqueName('lifetimes'), ttl: 30_000, strict: false })
  assert.equal(map.report().flushIntervalMs, 1000)
  const measured = []
  for (let i = 0; i < 30; i++) {
    const started = performance.now()
    map.set(i, i)
    await sleep(5 + (i % 4) * 5)
    map.delete(i)
    measured.push(performance.now() - started)
  }
  const { lifetime } = map.report().sites[0]
  const sorted = measured.sort((a, b) => a - b)
  assert.equal(lifetime.count, 30)
  // Each stamp is within a tick or two of the truth; the histogram's buckets
  // are within 25%: the ledger's p50 lies near the measured median.
  const median = sorted[15]
  assert.ok(lifetime.p50Ms >= Math.floor(median * 0.7) - 2 && lifetime.p50Ms <= median * 1.3 + 2, `p50 ${lifetime.p50Ms} ms, measured median ${median.toFixed(1)} ms`)
  assert.ok(lifetime.maxMs >= Math.floor(sorted[29]) - 2 && lifetime.maxMs <= sorted[29] + 3, `max ${lifetime.maxMs} ms, measured ${sorted[29].toFixed(1)} ms`)
  map.close()
})

test('while performance.now is replaced (fake timers), the map stamps by it exactly', () => {
  const realNow = performance.now
  let fake = 5_000
  performance.now = () => fake
  try {
    const map = new HandleMap({ name: uniqueName('fake-timers'), ttl: 100, strict: false, flushInterval: 60_000 })
    map.set('a', 1)
    fake += 60
    map.set('b', 2)
    fake += 39
    assert.equal(map.purgeExpired(), 0, "99 ms after 'a': nothing is due")
    fake += 2 // past 100 ms, whatever fraction timeOrigin adds
    assert.equal(map.purgeExpired(), 1, "'a' is due by the fake clock, 'b' is not")
    assert.deepEqual([...map.keys()], ['b'])
    fake += 60
    assert.equal(map.purgeExpired(), 1)
    map.close()
  } finally {
    performance.now = realNow
  }
})
