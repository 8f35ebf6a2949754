'use strict'
// TTL expiry with a controllable clock: exactly once, never early, the value
// handed to onExpire, and a throwing onExpire does not stop the others.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { HandleMap } = require('..')

function clockAt (start) {
  const clock = { now: start }
  clock.read = () => clock.now
  return clock
}

test('an entry expires once its TTL has passed, not before, and exactly once', () => {
  const clock = clockAt(10_000)
  const expired = []
  const map = new HandleMap({ ttl: 1_000, clock: clock.read, onExpire: e => expired.push(e), strict: false })
  const ctx = { request: 1 }
  map.set('a', ctx)
  clock.now = 10_500
  map.set('b', 'second')
  clock.now = 10_999
  assert.equal(map.purgeExpired(), 0)
  assert.equal(map.get('a'), ctx)
  clock.now = 11_000
  assert.equal(map.purgeExpired(), 1)
  assert.equal(map.has('a'), false)
  assert.equal(map.get('b'), 'second')
  assert.equal(expired.length, 1)
  assert.equal(expired[0].key, 'a')
  assert.equal(expired[0].value, ctx, 'onExpire receives the value itself')
  assert.equal(expired[0].ageMs, 1_000)
  assert.match(expired[0].site, /ttl\.test\.js:\d+:\d+\)$/)
  assert.ok(Array.isArray(expired[0].stack))
  clock.now = 20_000
  assert.equal(map.purgeExpired(), 1)
  assert.equal(map.purgeExpired(), 0)
  assert.deepEqual(expired.map(e => e.key), ['a', 'b'])
  const report = map.report()
  assert.equal(report.expired, 2)
  assert.equal(report.live, 0)
  assert.equal(report.sites.reduce((sum, site) => sum + site.expired, 0), 2)
  map.close()
})

test('a custom clock that goes back: entries expire late at worst, never early, and once', () => {
  const clock = clockAt(10_000)
  const expired = []
  const map = new HandleMap({ ttl: 1_000, clock: clock.read, onExpire: e => expired.push(e.key), strict: false })
  map.set('a', 1)
  clock.now = 9_000
  map.set('b', 2) // stamped behind 'a': it joins the newest generation, 'a''s
  clock.now = 9_999
  assert.equal(map.purgeExpired(), 0)
  clock.now = 10_000
  assert.equal(map.purgeExpired(), 0, "'b' is due by its own stamp, and waits for 'a''s deadline: late, not early")
  clock.now = 10_999
  assert.equal(map.purgeExpired(), 0)
  clock.now = 11_000
  assert.equal(map.purgeExpired(), 2)
  assert.deepEqual(expired, ['a', 'b'])
  // Once nothing newer is scheduled, a stamp from the past keeps its own deadline.
  clock.now = 5_000
  map.set('c', 3)
  clock.now = 5_999
  assert.equal(map.purgeExpired(), 0)
  clock.now = 6_000
  assert.equal(map.purgeExpired(), 1)
  assert.deepEqual(expired, ['a', 'b', 'c'])
  clock.now = 20_000
  assert.equal(map.purgeExpired(), 0, 'each entry expires once')
  map.close()
})

test('a removed entry never expires; touch and overwrite restart the TTL', () => {
  const clock = clockAt(0)
  const expired = []
  const map = new HandleMap({ ttl: 100, clock: clock.read, onExpire: e => expired.push(e.key), strict: false })
  map.set('removed', 1).set('touched', 2).set('overwritten', 3)
  clock.now = 90
  map.delete('removed')
  map.touch('touched')
  map.set('overwritten', 4)
  clock.now = 150
  map.purgeExpired()
  assert.deepEqual(expired, [])
  clock.now = 190
  map.purgeExpired()
  assert.deepEqual(expired.sort(), ['overwritten', 'touched'])
  map.close()
})

test('a throwing onExpire does not stop the others, and its error is a warning', async () => {
  const clock = clockAt(0)
  const handed = []
  const map = new HandleMap({
    ttl: 10,
    clock: clock.read,
    strict: false,
    onExpire (entry) {
      handed.push(entry.key)
      if (entry.key === 2) throw new Error('callback failed')
    }
  })
  for (let i = 1; i <= 4; i++) map.set(i, `ctx${i}`)
  const warned = new Promise(resolve => process.once('warning', resolve))
  clock.now = 10
  assert.equal(map.purgeExpired(), 4)
  assert.deepEqual(handed, [1, 2, 3, 4])
  assert.equal(map.size, 0, 'every entry was handed over, the thrower included')
  const warning = await warned
  assert.equal(warning.name, 'HandleLedgerWarning')
  assert.match(warning.message, /onExpire threw/)
  assert.match(warning.message, /callback failed/)
  map.close()
})

test('onExpire may re-enter the map', () => {
  const clock = clockAt(0)
  const map = new HandleMap({
    ttl: 10,
    clock: clock.read,
    strict: false,
    onExpire (entry) {
      map.delete('other')
      map.set(`retry-${entry.key}`, entry.value)
    }
  })
  map.set('a', 1)
  clock.now = 5
  map.set('other', 2)
  clock.now = 10
  assert.equal(map.purgeExpired(), 1)
  assert.deepEqual([...map], [['retry-a', 1]])
  assert.equal(map.report().live, 1)
  map.close()
})

test('expiry happens on its own with the real clock (unref\'d timer)', async () => {
  const expired = []
  const map = new HandleMap({ ttl: 30, onExpire: e => expired.push(e.key), strict: false })
  map.set('soon', 1)
  const deadline = Date.now() + 2_000
  while (expired.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  assert.deepEqual(expired, ['soon'])
  assert.equal(map.has('soon'), false)
  map.close()
})

test('a process holding a map with a pending TTL and entries exits at once', () => {
  const script = `
    const { HandleMap } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const map = new HandleMap({ ttl: 3_600_000 })
    for (let i = 0; i < 1000; i++) map.set(i, { i })
    globalThis.keep = map
  `
  const started = Date.now()
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.signal, null, 'the child had to be killed: something held the event loop')
  assert.ok(Date.now() - started < 20_000)
})
