'use strict'
// diagnostics_channel: what a subscriber to handle-ledger:expire and
// handle-ledger:suspect receives, that nothing is published to a channel
// nobody subscribes to, and the warnings' code and detail (the fields
// 'warning' handlers and `--disable-warning` switch on; that flag is in every
// Node line the package supports from 20.11 on, and is checked here too).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const diagnosticsChannel = require('node:diagnostics_channel')
const { spawnSync } = require('node:child_process')
const { HandleMap, registry } = require('..')
const { markerLines } = require('./support/source.js')

const lineOf = markerLines(__filename)
const maps = []
function newMap (options) {
  const map = new HandleMap(options)
  maps.push(map)
  return map
}
test.after(() => { for (const map of maps) map.close() })

function leakyOpen (map, key, value) { map.set(key, value) } // @leakyOpen
function balancedOpen (map, key) { map.set(key, key) }

function clockAt (now) {
  const clock = { now, read: () => clock.now }
  return clock
}

/** Subscribes to `name` for the duration of `body`; returns the messages. */
function collect (name, body) {
  const messages = []
  const onMessage = message => messages.push(message)
  diagnosticsChannel.subscribe(name, onMessage)
  try {
    body()
  } finally {
    diagnosticsChannel.unsubscribe(name, onMessage)
  }
  return messages
}

test('handle-ledger:expire: one message per expired entry, with map, key, value, age and site', () => {
  const clock = clockAt(1000)
  const map = newMap({ name: 'channels-expire', ttl: 50, clock: clock.read, callSites: 'all', strict: false })
  const values = [{ socket: 1 }, { socket: 2 }, { socket: 3 }]
  values.forEach((value, i) => leakyOpen(map, `conn-${i}`, value))
  const messages = collect('handle-ledger:expire', () => {
    clock.now = 1060
    assert.equal(map.purgeExpired(), 3)
  })
  assert.equal(messages.length, 3)
  const id = registry.report({ map: 'channels-expire', limit: 0 }).maps[0].id
  messages.forEach((message, i) => {
    assert.deepEqual(Object.keys(message).sort(), ['ageMs', 'key', 'map', 'mapId', 'site', 'stack', 'value'])
    assert.equal(message.map, 'channels-expire')
    assert.equal(message.mapId, id)
    assert.equal(message.key, `conn-${i}`)
    assert.equal(message.value, values[i], 'the value itself, not a copy')
    assert.equal(message.ageMs, 60)
    assert.match(message.site, new RegExp(`^leakyOpen \\(.*channels\\.test\\.js:${lineOf('leakyOpen')}:\\d+\\)$`))
    assert.ok(Array.isArray(message.stack) && message.stack.length >= 1)
  })
})

test('handle-ledger:expire: nothing is published once the subscriber leaves', () => {
  const clock = clockAt(0)
  const map = newMap({ name: 'channels-unsubscribed', ttl: 10, clock: clock.read, strict: false })
  const channel = diagnosticsChannel.channel('handle-ledger:expire')
  const seen = []
  const onMessage = message => seen.push(message)
  channel.subscribe(onMessage)
  leakyOpen(map, 'a', 1)
  clock.now = 20
  map.purgeExpired()
  channel.unsubscribe(onMessage)
  assert.equal(channel.hasSubscribers, false)
  leakyOpen(map, 'b', 2)
  clock.now = 40
  assert.equal(map.purgeExpired(), 1, 'the entry still expires')
  assert.deepEqual(seen.map(message => message.key), ['a'])
})

test('handle-ledger:suspect: a site a report marks suspect, once per site of a map', () => {
  const map = newMap({ name: 'channels-suspect', callSites: 'all' })
  for (let i = 0; i < 4; i++) leakyOpen(map, `leak-${i}`, i)
  for (let i = 0; i < 4; i++) {
    balancedOpen(map, `ok-${i}`)
    map.delete(`ok-${i}`)
  }
  const first = collect('handle-ledger:suspect', () => registry.report({ map: 'channels-suspect', outlierFloorMs: 0 }))
  assert.equal(first.length, 1, 'the balanced site is not suspect')
  const [message] = first
  assert.deepEqual(Object.keys(message).sort(), ['live', 'map', 'mapId', 'oldestAgeMs', 'reason', 'site', 'stack', 'threadId'])
  assert.equal(message.map, 'channels-suspect')
  assert.equal(message.threadId, 0)
  assert.equal(message.live, 4)
  assert.equal(message.reason, 'inserted but never removed')
  assert.match(message.site, new RegExp(`^leakyOpen \\(.*:${lineOf('leakyOpen')}:\\d+\\)$`))
  assert.equal(typeof message.oldestAgeMs, 'number')

  const again = collect('handle-ledger:suspect', () => registry.report({ map: 'channels-suspect', outlierFloorMs: 0 }))
  assert.deepEqual(again, [], 'a site already published is not published on every report')

  const other = newMap({ name: 'channels-suspect-2', callSites: 'all' })
  leakyOpen(other, 'x', 1)
  const next = collect('handle-ledger:suspect', () => registry.report({ map: 'channels-suspect-2', outlierFloorMs: 0 }))
  assert.deepEqual(next.map(m => m.map), ['channels-suspect-2'], 'the same site in another map is news')
})

function warningsDuring (body) {
  const warnings = []
  const onWarning = warning => warnings.push(warning)
  process.on('warning', onWarning)
  return Promise.resolve(body()).then(async () => {
    await new Promise(resolve => setImmediate(resolve)) // 'warning' is emitted on the next tick
    process.off('warning', onWarning)
    return warnings
  })
}

test('HandleLeakWarning carries code HANDLE_LEDGER_EXPIRED and a detail', async () => {
  const clock = clockAt(0)
  const map = newMap({ name: 'channels-warning', ttl: 10, clock: clock.read, strict: true, callSites: 'all' })
  const warnings = await warningsDuring(() => {
    leakyOpen(map, 'k', 1)
    clock.now = 30
    map.purgeExpired()
  })
  const mine = warnings.filter(warning => warning.map === 'channels-warning')
  assert.equal(mine.length, 1)
  assert.equal(mine[0].name, 'HandleLeakWarning')
  assert.equal(mine[0].code, 'HANDLE_LEDGER_EXPIRED')
  assert.match(mine[0].detail, /^Remove the entry on every path out of leakyOpen /)
})

test('a throwing onExpire warns with code HANDLE_LEDGER_CALLBACK_FAILED', async () => {
  const clock = clockAt(0)
  const map = newMap({ ttl: 10, clock: clock.read, strict: false, onExpire () { throw new Error('boom') } })
  const warnings = await warningsDuring(() => {
    map.set('k', 1)
    clock.now = 20
    map.purgeExpired()
  })
  assert.deepEqual(warnings.map(warning => [warning.name, warning.code]), [['HandleLedgerWarning', 'HANDLE_LEDGER_CALLBACK_FAILED']])
  assert.equal(typeof warnings[0].detail, 'string')
  assert.equal(warnings[0].cause.message, 'boom')
})

test('a failing expiry tick warns with code HANDLE_LEDGER_TICK_FAILED', async () => {
  let broken = false
  const map = newMap({ ttl: 10, flushInterval: 5, strict: false, clock: () => { if (broken) throw new Error('clock broke'); return 0 } })
  const warned = new Promise(resolve => {
    process.on('warning', function onWarning (warning) {
      if (warning.code !== 'HANDLE_LEDGER_TICK_FAILED') return
      process.off('warning', onWarning)
      resolve(warning)
    })
  })
  broken = true
  const keepAlive = setInterval(() => {}, 1000) // the map's own timer is unref'd
  const warning = await warned
  clearInterval(keepAlive)
  assert.equal(warning.name, 'HandleLedgerWarning')
  assert.match(warning.message, /clock broke/)
  assert.equal(typeof warning.detail, 'string')
  broken = false
  map.close()
})

test('node prints the code and the detail of a leak warning on stderr', () => {
  const script = `
    const { HandleMap } = require(${JSON.stringify(require.resolve('..'))})
    let now = 0
    const map = new HandleMap({ name: 'printed', ttl: 10, clock: () => now, strict: true })
    map.set('k', 1)
    now = 50
    map.purgeExpired()
    map.close()`
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.match(child.stderr, /\[HANDLE_LEDGER_EXPIRED\] HandleLeakWarning: HandleMap "printed": an entry inserted at/)
  assert.match(child.stderr, /\nRemove the entry on every path out of /)
})

test('--disable-warning silences one code, or one warning name, and leaves the other warning printed', () => {
  const script = `
    const { HandleMap } = require(${JSON.stringify(require.resolve('..'))})
    let now = 0
    const map = new HandleMap({ name: 'silenced', ttl: 10, clock: () => now, strict: true, onExpire () { throw new Error('boom') } })
    map.set('k', 1)
    now = 50
    map.purgeExpired()
    map.close()`
  const printed = flag => {
    const child = spawnSync(process.execPath, [...(flag ? [flag] : []), '-e', script], { encoding: 'utf8' })
    assert.equal(child.status, 0, child.stderr)
    return [...child.stderr.matchAll(/\[(HANDLE_LEDGER_\w+)\] (\w+):/g)].map(match => `${match[1]} ${match[2]}`)
  }
  const leak = 'HANDLE_LEDGER_EXPIRED HandleLeakWarning'
  const callback = 'HANDLE_LEDGER_CALLBACK_FAILED HandleLedgerWarning'
  assert.deepEqual(printed(null).sort(), [callback, leak])
  assert.deepEqual(printed('--disable-warning=HANDLE_LEDGER_EXPIRED'), [callback])
  assert.deepEqual(printed('--disable-warning=HandleLedgerWarning'), [leak])
})

test('a bad HANDLE_LEDGER_CALLSITES warns with code HANDLE_LEDGER_BAD_ENV', () => {
  const script = `
    process.on('warning', warning => console.log(JSON.stringify({ name: warning.name, code: warning.code, detail: warning.detail })))
    const { HandleMap } = require(${JSON.stringify(require.resolve('..'))})
    new HandleMap().close()`
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, HANDLE_LEDGER_CALLSITES: 'bogus' } })
  assert.equal(child.status, 0, child.stderr)
  assert.deepEqual(JSON.parse(child.stdout), { name: 'HandleLedgerWarning', code: 'HANDLE_LEDGER_BAD_ENV', detail: 'Set it to one of auto, all, sampled, off, or unset it.' })
})
