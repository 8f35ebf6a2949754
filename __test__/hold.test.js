'use strict'
// map.hold() and map.acquire(): the entry is removed by handle-ledger when the
// call ends (returns, throws, settles, is aborted, or the handle is released),
// a live key is refused, the caller's line is the insert site, and reports
// mark held sites and never call them suspect.
const test = require('node:test')
const assert = require('node:assert/strict')
const { getEventListeners } = require('node:events')
const { newMap } = require('./support/maps.js')

// The line of the caller of thisLine(), to compare with a recorded site.
function thisLine () {
  const frame = new Error().stack.split('\n')[2]
  return Number(/:(\d+):\d+\)?$/.exec(frame)[1])
}

function atLine (line) {
  return new RegExp(`hold\\.test\\.js:${line}:\\d+\\)$`)
}

function deferred () {
  let resolve, reject
  const promise = new Promise((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}

function clockAt (start) {
  const clock = { now: start }
  clock.read = () => clock.now
  return clock
}

test('a sync fn sees its entry live, hold returns its result, and the entry is gone after', () => {
  const map = newMap({ name: 'hold-sync' })
  const ctx = { id: 1 }
  let seen
  const result = map.hold('a', ctx, value => {
    seen = { value, live: map.get('a'), size: map.size }
    return 42
  })
  assert.equal(result, 42, 'the result itself, not a promise')
  assert.equal(seen.value, ctx, 'fn receives the value')
  assert.equal(seen.live, ctx)
  assert.equal(seen.size, 1)
  assert.equal(map.has('a'), false)
  const report = map.report()
  assert.equal(report.live, 0)
  assert.equal(report.inserts, 1)
  assert.equal(report.removes, 1)
})

test('an async fn keeps its entry until it settles; hold resolves with its value', async () => {
  const map = newMap({ name: 'hold-async' })
  const gate = deferred()
  const pending = map.hold(7, 'ctx', async value => {
    await gate.promise
    return `${value} done`
  })
  assert.ok(pending instanceof Promise)
  await new Promise(resolve => setImmediate(resolve))
  assert.equal(map.get(7), 'ctx', 'live while fn is pending')
  gate.resolve()
  assert.equal(await pending, 'ctx done')
  assert.equal(map.size, 0)
})

test('a throwing fn: hold rethrows the same error and the entry is removed', () => {
  const map = newMap({ name: 'hold-throw' })
  const failure = new Error('boom')
  assert.throws(() => map.hold('a', 1, () => { throw failure }), error => error === failure)
  assert.equal(map.has('a'), false)
  assert.equal(map.report().removes, 1)
})

test('a rejecting fn: hold rejects with the same reason and the entry is removed', async () => {
  const map = newMap({ name: 'hold-reject' })
  const failure = new Error('down')
  await assert.rejects(map.hold('a', 1, async () => { throw failure }), error => error === failure)
  assert.equal(map.has('a'), false)
})

test('a fn returning a non-promise thenable is awaited too', async () => {
  const map = newMap({ name: 'hold-thenable' })
  const thenable = { then (resolve) { setImmediate(() => resolve('late')) } }
  const pending = map.hold('a', 1, () => thenable)
  assert.equal(map.has('a'), true)
  assert.equal(await pending, 'late')
  assert.equal(map.has('a'), false)
})

test('a live key is refused: hold and acquire throw and change nothing', () => {
  const map = newMap({ name: 'hold-duplicate' })
  map.set('k', 'first')
  let called = false
  assert.throws(() => map.hold('k', 'second', () => { called = true }), /key k is live; a held key is unique while in flight/)
  assert.throws(() => map.acquire('k', 'second'), /key k is live/)
  assert.equal(called, false, 'fn was not called')
  assert.equal(map.get('k'), 'first')
  assert.equal(map.size, 1)
  const report = map.report()
  assert.equal(report.inserts, 1, 'nothing was logged')
  // A held key is refused while its call is in flight.
  map.hold('h', 1, () => {
    assert.throws(() => map.hold('h', 2, () => {}), /key h is live/)
    assert.equal(map.get('h'), 1)
  })
  assert.equal(map.has('h'), false)
  // -0 and +0 are one key, as in a Map.
  const handle = map.acquire(0, 'zero')
  assert.throws(() => map.acquire(-0, 'again'), /is live/)
  assert.equal(handle.release(), true)
  assert.equal(map.has(0), false)
})

test('bad arguments are TypeErrors naming what was expected, and insert nothing', () => {
  const map = newMap({ name: 'hold-bad-input' })
  assert.throws(() => map.hold('a', 1), { name: 'TypeError', message: /fn must be a function, got undefined/ })
  assert.throws(() => map.hold('a', 1, () => {}, 5), { name: 'TypeError', message: /options must be an object, got 5/ })
  assert.throws(() => map.hold('a', 1, () => {}, null), { name: 'TypeError', message: /options must be an object/ })
  assert.throws(() => map.hold('a', 1, () => {}, { signal: {} }), { name: 'TypeError', message: /options\.signal must be an AbortSignal/ })
  assert.throws(() => map.hold('a', 1, () => {}, { signal: Symbol('s') }), { name: 'TypeError', message: /got a symbol/ })
  assert.equal(map.size, 0)
  assert.equal(map.report().inserts, 0)
  assert.equal(map.hold('a', 1, () => 'ok', {}), 'ok', 'options without a signal')
})

test('hold on a full map is a RangeError and inserts nothing', () => {
  const map = newMap({ name: 'hold-full', maxSize: 1 })
  map.set('x', 1)
  assert.throws(() => map.hold('a', 1, () => {}), RangeError)
  assert.throws(() => map.acquire('a', 1), RangeError)
  assert.equal(map.size, 1)
})

test('a signal aborted before: rejects with its reason, fn never runs, nothing is inserted', async () => {
  const map = newMap({ name: 'hold-abort-before' })
  const reason = new Error('cancelled by the caller')
  const pending = map.hold('a', 1, () => { throw new Error('fn must not run') }, { signal: AbortSignal.abort(reason) })
  assert.equal(map.size, 0)
  await assert.rejects(pending, error => error === reason)
  assert.equal(map.report().inserts, 0)
  // The default reason is the AbortError DOMException, as with Node's APIs.
  await assert.rejects(map.hold('a', 1, () => {}, { signal: AbortSignal.abort() }), { name: 'AbortError' })
})

test('a signal aborted during fn: removes the entry and rejects with its reason at once; fn settling later changes nothing', async () => {
  const map = newMap({ name: 'hold-abort-during' })
  const unhandled = []
  const onUnhandled = reason => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  try {
    const controller = new AbortController()
    const gate = deferred()
    const pending = map.hold('a', 'ctx', () => gate.promise, { signal: controller.signal })
    assert.equal(map.get('a'), 'ctx')
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1)
    const reason = new Error('client went away')
    controller.abort(reason)
    assert.equal(map.has('a'), false, 'removed by the abort itself')
    await assert.rejects(pending, error => error === reason)
    // The same key may be used again; fn's late failure must not touch it.
    map.set('a', 'newer')
    gate.reject(new Error('late failure of the aborted call'))
    await new Promise(resolve => setImmediate(resolve))
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(map.get('a'), 'newer')
    assert.deepEqual(unhandled, [], 'fn\'s late rejection is handled')
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

test('with a signal that never aborts: resolves or rejects as fn does, and stops listening', async () => {
  const map = newMap({ name: 'hold-signal-idle' })
  const controller = new AbortController()
  const { signal } = controller
  assert.equal(await map.hold('a', 1, async v => v + 1, { signal }), 2)
  const syncResult = map.hold('b', 1, v => v * 10, { signal })
  assert.ok(syncResult instanceof Promise, 'with a signal hold always returns a promise')
  assert.equal(await syncResult, 10)
  const failure = new Error('sync failure')
  await assert.rejects(map.hold('c', 1, () => { throw failure }, { signal }), error => error === failure)
  assert.equal(getEventListeners(signal, 'abort').length, 0)
  assert.equal(map.size, 0)
  controller.abort()
  assert.equal(map.report().removes, 3)
})

test('the insert site is the caller\'s line, for hold and for acquire', () => {
  const map = newMap({ name: 'hold-site' })
  let holdSite
  const holdLine = thisLine() + 1
  map.hold('a', 1, () => { holdSite = map.info('a').site })
  assert.match(holdSite, atLine(holdLine))
  const acquireLine = thisLine() + 1
  const handle = map.acquire('b', 2)
  assert.match(map.info('b').site, atLine(acquireLine))
  handle.release()
})

test('reports mark held sites and never call them suspect, even long-lived or expired', async () => {
  const clock = clockAt(1_000)
  const map = newMap({ name: 'hold-report', ttl: 10_000, clock: clock.read, strict: false })
  const gate = deferred()
  const heldLine = thisLine() + 1
  const slow = map.hold('slow', 1, () => gate.promise)
  const plainLine = thisLine() + 1
  map.set('lost', 2)
  const acquiredLine = thisLine() + 1
  map.acquire('forgotten', 3)
  clock.now += 60_000
  assert.equal(map.purgeExpired(), 3)
  clock.now += 1_000
  map.hold('slow-again', 4, () => gate.promise)
  const report = map.report()
  const siteAt = line => report.sites.find(site => atLine(line).test(site.site))
  const held = siteAt(heldLine)
  assert.equal(held.held, true)
  assert.equal(held.suspect, false)
  assert.equal(held.reason, null)
  assert.equal(held.expired, 1)
  // acquire() has no call to end: a forgotten release() is a lost cleanup,
  // judged like any other insert, at its acquire line.
  assert.equal(siteAt(acquiredLine).held, false)
  assert.equal(siteAt(acquiredLine).suspect, true)
  const plain = siteAt(plainLine)
  assert.equal(plain.held, false)
  assert.equal(plain.suspect, true, 'a plain set that only expires is still suspect')
  gate.resolve()
  await slow
  assert.equal(map.size, 0)
})

test('acquire: release() removes the entry once and returns true, then false', () => {
  const map = newMap({ name: 'acquire-release' })
  const handle = map.acquire('a', 'ctx')
  assert.equal(handle.key, 'a')
  assert.equal(map.get('a'), 'ctx')
  assert.equal(Object.prototype.toString.call(handle), '[object HeldEntry]')
  assert.equal(handle.release(), true)
  assert.equal(map.has('a'), false)
  assert.equal(handle.release(), false)
  assert.equal(map.report().removes, 1)
})

test('acquire: [Symbol.dispose] releases, and a later release() returns false', () => {
  const map = newMap({ name: 'acquire-dispose' })
  const handle = map.acquire('a', 1)
  assert.equal(typeof handle[Symbol.dispose], 'function')
  assert.equal(handle[Symbol.for('nodejs.dispose')], handle[Symbol.dispose])
  handle[Symbol.dispose]()
  assert.equal(map.has('a'), false)
  assert.equal(handle.release(), false)
})

test('a release after expiry does nothing and returns false, and never removes a newer entry under the key', () => {
  const clock = clockAt(0)
  const map = newMap({ name: 'acquire-expired', ttl: 100, clock: clock.read, strict: false })
  const first = map.acquire('k', 'first')
  clock.now = 100
  assert.equal(map.purgeExpired(), 1)
  // Re-inserted by someone else, in the slot the expired entry left, with the same value.
  const second = map.acquire('k', 'first')
  assert.equal(first.release(), false)
  assert.equal(map.get('k'), 'first', 'the newer entry is still there')
  assert.equal(map.size, 1)
  clock.now = 200
  assert.equal(map.purgeExpired(), 1)
  map.set('k', 'plain')
  assert.equal(second.release(), false, 'expired before; the plain entry is not its own')
  assert.equal(map.get('k'), 'plain')
  map.delete('k')
  const third = map.acquire('k', 'third')
  const stale = map.acquire('other', 'x')
  map.delete('other')
  assert.equal(stale.release(), false, 'deleted by hand')
  assert.equal(map.get('k'), 'third')
  map.clear()
  assert.equal(third.release(), false, 'cleared')
  assert.equal(map.size, 0)
})

test('hold\'s own removal after its entry expired leaves the newer entry under the key alone', async () => {
  const clock = clockAt(0)
  const map = newMap({ name: 'hold-expired', ttl: 100, clock: clock.read, strict: false })
  const gate = deferred()
  const pending = map.hold('k', 'slow call', () => gate.promise)
  clock.now = 150
  assert.equal(map.purgeExpired(), 1)
  const newer = map.acquire('k', 'newer call')
  gate.resolve('finished')
  assert.equal(await pending, 'finished')
  assert.equal(map.get('k'), 'newer call')
  assert.equal(newer.release(), true)
})

test('a set() over a held key keeps it held: the hold still removes it', () => {
  const map = newMap({ name: 'hold-overwrite' })
  map.hold('a', 1, () => {
    map.set('a', 2)
    assert.equal(map.get('a'), 2)
  })
  assert.equal(map.has('a'), false)
})

test('held entries in sampled and off modes still behave, and the ledger agrees with the map', async () => {
  for (const callSites of ['off', 'sampled']) {
    const map = newMap({ name: `hold-${callSites}`, callSites, sampleRate: 4 })
    const handles = []
    const gate = deferred()
    const holds = []
    for (let i = 0; i < 100; i++) {
      map.hold(i, i, () => {})
      holds.push(map.hold(`pending${i}`, i, () => gate.promise))
      handles.push(map.acquire(`h${i}`, i))
    }
    for (const handle of handles.slice(0, 60)) assert.equal(handle.release(), true)
    const report = map.report()
    assert.equal(map.size, 140)
    assert.equal(report.live, 140, callSites)
    assert.equal(report.inserts, 300)
    assert.equal(report.removes, 160)
    const heldLive = report.sites.filter(site => site.held).reduce((sum, site) => sum + site.live, 0)
    const plainLive = report.sites.filter(site => !site.held).reduce((sum, site) => sum + site.live, 0)
    if (callSites === 'sampled') assert.ok(heldLive > 0 && plainLive > 0, `held and acquired entries are told apart (${heldLive} held, ${plainLive} not)`)
    gate.resolve()
    await Promise.all(holds)
    assert.equal(map.size, 40)
  }
})

test('text, HTML and diff renderings mark held sites', async () => {
  const { formatReport, registry } = require('..')
  const { renderReportPage, renderDiffPage } = require('../lib/http/html.js')
  const map = newMap({ name: 'hold-rendered' })
  const before = registry.snapshot({ map: 'hold-rendered' })
  const gate = deferred()
  const heldLine = thisLine() + 1
  const pending = map.hold('held', 1, () => gate.promise)
  const plainLine = thisLine() + 1
  map.set('plain', 2)
  const lineOf = (text, line) => text.split('\n').find(l => l.includes(`hold.test.js:${line}:`))
  const text = formatReport(map.report())
  assert.match(lineOf(text, heldLine), /\[held: removed when its call ends\]$/)
  assert.doesNotMatch(lineOf(text, plainLine), /held/)
  // judged at any age (outlierFloorMs 0): these entries are milliseconds old
  const page = renderReportPage(registry.report({ map: 'hold-rendered', outlierFloorMs: 0 }))
  const rows = page.split('<tr class="site').slice(1)
  const rowAt = line => rows.find(row => row.includes(`hold.test.js:${line}:`))
  assert.match(rowAt(heldLine), /<td class="status"><span class="muted">held<\/span><\/td>/)
  assert.match(rowAt(plainLine), /<td class="status">&#9888; suspect<\/td>/)
  const diff = registry.diff(before, registry.snapshot({ map: 'hold-rendered' }))
  const diffSites = diff.maps[0].sites
  assert.deepEqual(diffSites.map(site => site.held).sort(), [false, true])
  assert.match(lineOf(formatReport(diff), heldLine), /\[held: removed when its call ends\]$/)
  assert.match(renderDiffPage(diff), /<td class="status"><span class="muted">held<\/span><\/td>/)
  gate.resolve()
  await pending
  map.delete('plain')
  // One call expression that both sets and holds: two sites with one text.
  // The route's ?seconds=N diff starts from a compact snapshot, which must keep them apart too.
  const { compactSnapshot } = require('../lib/report/snapshot.js')
  const never = new Promise(() => {})
  const insertBoth = round => { for (const method of ['set', 'hold']) map[method](`${method}${round}`, round, () => never) }
  insertBoth(1)
  const older = compactSnapshot(registry.snapshot({ map: 'hold-rendered' }))
  insertBoth(2)
  const fromCompact = registry.diff(older, registry.snapshot({ map: 'hold-rendered' }))
  const changed = fromCompact.maps[0].sites.map(site => [site.held, site.insertsDelta, site.live])
  assert.deepEqual(changed.sort(), [[false, 1, 2], [true, 1, 2]])
})

test('a held entry that expires reaches onExpire marked held, without a strict-mode leak warning; an acquired one is a leak', async () => {
  const clock = clockAt(0)
  const expired = []
  const map = newMap({ name: 'hold-strict', ttl: 100, clock: clock.read, strict: true, onExpire: entry => expired.push(entry) })
  const warnings = []
  const onWarning = warning => warnings.push(warning)
  process.on('warning', onWarning)
  try {
    map.hold('held', 1, () => new Promise(() => {})) // a call that never ends
    map.set('plain', 2)
    const acquiredLine = thisLine() + 1
    map.acquire('acquired', 3)
    clock.now = 100
    assert.equal(map.purgeExpired(), 3)
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(expired.map(entry => [entry.key, entry.held]).sort(), [['acquired', false], ['held', true], ['plain', false]])
    const leaks = warnings.filter(warning => warning.name === 'HandleLeakWarning')
    assert.equal(leaks.length, 2, 'the plain and the acquired entry are warned of, not the held one')
    assert.ok(leaks.every(leak => /hold\.test\.js:\d+:\d+\) expired/.test(leak.message)))
    assert.ok(leaks.some(leak => leak.site === expired.find(entry => entry.key === 'plain').site))
    assert.ok(leaks.some(leak => atLine(acquiredLine).test(leak.site)), 'the forgotten release is named at its acquire line')
  } finally {
    process.off('warning', onWarning)
  }
})

// Random acquire/release/hold against plain set/delete/clear and TTL expiry,
// over a few keys so that slots and keys are reused all the time: each
// release answers true exactly when its own entry is still there, and the
// map always holds what the model holds.
test('random held and plain operations over few keys match a model', () => {
  let seed = 0x2545f491
  const below = n => {
    seed ^= seed << 13; seed >>>= 0
    seed ^= seed >>> 17
    seed ^= seed << 5; seed >>>= 0
    return seed % n
  }
  const clock = clockAt(0)
  const ttl = 50
  const map = newMap({ name: 'hold-model', ttl, clock: clock.read, strict: false })
  const model = new Map() // key -> { value, holder, deadline }
  const handles = []
  let lastHolder = 0
  const sameValue = { shared: true }
  const valueFor = () => (below(3) === 0 ? sameValue : { n: below(1000) })
  for (let step = 0; step < 20_000; step++) {
    const key = below(6)
    const op = below(10)
    if (op <= 2) {
      const value = valueFor()
      if (model.has(key)) {
        assert.throws(() => map.acquire(key, value), /is live/)
      } else {
        handles.push({ handle: map.acquire(key, value), id: ++lastHolder, key })
        model.set(key, { value, holder: lastHolder, deadline: clock.now + ttl })
      }
    } else if (op <= 4 && handles.length > 0) {
      const [h] = handles.splice(below(handles.length), 1)
      const entry = model.get(h.key)
      const own = entry !== undefined && entry.holder === h.id
      assert.equal(h.handle.release(), own, `step ${step}: release of key ${h.key}`)
      if (own) model.delete(h.key)
      if (below(4) === 0) assert.equal(h.handle.release(), false, 'released twice')
    } else if (op === 5) {
      const value = valueFor()
      map.set(key, value)
      const entry = model.get(key)
      model.set(key, { value, holder: entry === undefined ? null : entry.holder, deadline: clock.now + ttl })
    } else if (op === 6) {
      assert.equal(map.delete(key), model.delete(key))
    } else if (op === 7) {
      const value = valueFor()
      if (model.has(key)) {
        assert.throws(() => map.hold(key, value, () => {}), /is live/)
      } else {
        assert.equal(map.hold(key, value, held => map.get(key) === held), true)
      }
    } else if (op === 8) {
      clock.now += below(30)
      map.purgeExpired()
      for (const [k, entry] of model) if (entry.deadline <= clock.now) model.delete(k)
    } else if (below(50) === 0) {
      map.clear()
      model.clear()
    }
    assert.equal(map.size, model.size, `step ${step}: size`)
    for (const [k, entry] of model) assert.equal(map.get(k), entry.value, `step ${step}: value of ${k}`)
  }
  assert.equal(map.report().live, model.size)
})

test('a result whose then getter throws: hold throws that error and the entry is removed', async () => {
  const map = newMap({ name: 'hold-hostile-then' })
  const failure = new Error('then getter')
  const hostile = () => ({ get then () { throw failure } })
  assert.throws(() => map.hold('a', 1, hostile), error => error === failure)
  assert.equal(map.has('a'), false)
  await assert.rejects(map.hold('b', 1, hostile, { signal: new AbortController().signal }), error => error === failure)
  assert.equal(map.has('b'), false)
})

// A runtime without Symbol.dispose, to load handle-ledger's module into: a
// fresh V8 context. Node 20 and 22 define Symbol.dispose in the main context
// only, so a fresh one has none. From Node 24 V8 gives every context its own,
// which cannot be deleted (well-known symbols are not configurable): there the
// context's global `Symbol` is replaced by a copy without dispose and
// asyncDispose, which is all the module sees of it.
function contextWithoutDispose () {
  const vm = require('node:vm')
  const context = vm.createContext({ process, setInterval, clearInterval, FinalizationRegistry, WeakRef })
  if (vm.runInContext('typeof Symbol.dispose', context) === 'undefined') return context
  vm.runInContext(`{
    const Original = Symbol
    const Bare = function Symbol (description) { return Original(description) }
    Bare.prototype = Original.prototype
    for (const name of Reflect.ownKeys(Original)) {
      if (!['dispose', 'asyncDispose', 'prototype', 'length', 'name'].includes(name)) Bare[name] = Original[name]
    }
    globalThis.Symbol = Bare
  }`, context)
  return context
}

test('without Symbol.dispose a handle works through release(), and a later polyfill is picked up', () => {
  const fs = require('node:fs')
  const path = require('node:path')
  const vm = require('node:vm')
  const { createRequire } = require('node:module')
  const mapFile = path.join(__dirname, '..', 'lib', 'map', 'handle-map.js')
  const heldFile = path.join(__dirname, '..', 'lib', 'map', 'held.js')
  const context = contextWithoutDispose()
  assert.equal(vm.runInContext('typeof Symbol.dispose', context), 'undefined')
  // The map and its held handles evaluated in that context (held.js is where
  // the handle's class and its dispose methods are made).
  const evaluate = (file, require) => {
    const wrapper = vm.runInContext(`(function (exports, require, module) {${fs.readFileSync(file, 'utf8')}\n})`, context, { filename: file })
    const module = { exports: {} }
    wrapper(module.exports, require, module)
    return module.exports
  }
  const realRequire = createRequire(mapFile)
  const heldModule = evaluate(heldFile, realRequire)
  const module = { exports: evaluate(mapFile, id => id === './held.js' ? heldModule : realRequire(id)) }
  context.HandleMap = module.exports.HandleMap
  const outcome = JSON.parse(vm.runInContext(`
    const map = new HandleMap({ name: 'hold-no-dispose', callSites: 'off' })
    const before = map.acquire('a', 1)
    const result = { withoutDispose: Object.getOwnPropertySymbols(Object.getPrototypeOf(before)).map(String) }
    result.released = [before.release(), before.release(), map.has('a')]
    Symbol.dispose = Symbol('Symbol.dispose') // a polyfill, installed late
    const after = map.acquire('b', 2)
    after[Symbol.dispose]()
    result.disposed = [map.has('b'), after.release()]
    const node = map.acquire('c', 3)
    node[Symbol.for('nodejs.dispose')]()
    result.nodeDisposed = map.has('c')
    map.close()
    JSON.stringify(result)
  `, context))
  assert.deepEqual(outcome.withoutDispose.sort(), ['Symbol(Symbol.toStringTag)', 'Symbol(nodejs.dispose)'])
  assert.deepEqual(outcome.released, [true, false, false])
  assert.deepEqual(outcome.disposed, [false, false])
  assert.equal(outcome.nodeDisposed, false)
})

test('nested holds that overflow the stack leave no entry behind, in a fresh process (cold code), with and without a signal', () => {
  const { spawnSync } = require('node:child_process')
  const root = require('node:path').join(__dirname, '..')
  for (const withSignal of [false, true]) {
    for (const callSites of ['auto', 'off']) {
      const child = spawnSync(process.execPath, ['-e', `
        const { HandleMap } = require(${JSON.stringify(root)})
        const map = new HandleMap({ name: 'nested-holds', strict: false, callSites: ${JSON.stringify(callSites)} })
        const options = ${withSignal} ? { signal: new AbortController().signal } : undefined
        let depth = 0
        function nest () { const key = depth++; return map.hold(key, key, nest, options) }
        let outcome
        try { outcome = nest() } catch (error) { outcome = Promise.reject(error) }
        outcome.then(() => 'fulfilled', error => error.constructor.name).then(how => setImmediate(() => console.log(JSON.stringify({ how, depth, left: map.size }))))
      `], { encoding: 'utf8', timeout: 60_000 })
      assert.equal(child.status, 0, child.stderr)
      const { how, depth, left } = JSON.parse(child.stdout)
      const where = `${withSignal ? 'with' : 'without'} a signal, '${callSites}'`
      assert.equal(how, 'RangeError', where)
      assert.ok(depth > 100, `${where}: the holds nested (${depth})`)
      assert.equal(left, 0, `${where}: ${left} of ${depth} entries left behind`)
    }
  }
})

test('a signal-like object must be able to stop listening; whatever it does, the entry is removed', async () => {
  const map = newMap({ name: 'hold-signal-like' })
  const noRemove = { aborted: false, addEventListener () {} }
  assert.throws(() => map.hold('a', 1, () => 1, { signal: noRemove }), /options\.signal must be an AbortSignal \(aborted, addEventListener, removeEventListener\)/)
  assert.equal(map.has('a'), false, 'refused up front: nothing inserted')
  const failure = new Error('addEventListener failed')
  const throwingAdd = { aborted: false, addEventListener () { throw failure }, removeEventListener () {} }
  await assert.rejects(map.hold('b', 2, () => 2, { signal: throwingAdd }), error => error === failure)
  assert.equal(map.has('b'), false)
  const throwingRemove = { aborted: false, addEventListener () {}, removeEventListener () { throw new Error('remove failed') } }
  assert.equal(await map.hold('c', 3, value => value * 2, { signal: throwingRemove }), 6)
  assert.equal(map.has('c'), false)
  await assert.rejects(map.hold('d', 4, () => { throw failure }, { signal: throwingRemove }), error => error === failure)
  assert.equal(map.has('d'), false)
  assert.equal(map.report().live, 0)
})

// `using` is syntax where V8 has explicit resource management (Node 24), and
// there Symbol.dispose is V8's own symbol, no longer Node's
// Symbol.for('nodejs.dispose'); on Node 20 and 22 `using` exists only through
// a compiler (hold-types.test.js). Each line is checked for what it has.
function usingIsSyntax () {
  try {
    return typeof new Function('{ using entry = null }') === 'function' // eslint-disable-line no-new-func
  } catch (error) {
    if (error instanceof SyntaxError) return false
    throw error
  }
}

test('acquire: where `using` is syntax, a block releases the handle on exit and on a throw, and DisposableStack does too', async () => {
  const map = newMap({ name: 'acquire-native-using' })
  const handle = map.acquire('probe', 0)
  assert.equal(handle[Symbol.dispose], handle[Symbol.for('nodejs.dispose')])
  handle.release()
  if (!usingIsSyntax()) {
    // Node 20, 22: one symbol, Node's, so the handle's one method is all there is.
    assert.equal(Symbol.dispose, Symbol.for('nodejs.dispose'))
    return
  }
  assert.notEqual(Symbol.dispose, Symbol.for('nodejs.dispose'))
  // eslint-disable-next-line no-new-func
  const blocks = new Function('map', `
    const seen = []
    {
      using entry = map.acquire('a', 1)
      seen.push(map.has('a'))
    }
    seen.push(map.has('a'))
    try {
      using entry = map.acquire('b', 2)
      throw new Error('inside the block')
    } catch {}
    seen.push(map.has('b'))
    const stack = new DisposableStack()
    const held = stack.use(map.acquire('c', 3))
    seen.push(map.has('c'))
    stack.dispose()
    seen.push(map.has('c'), held.release())
    return seen
  `)
  assert.deepEqual(blocks(map), [true, false, false, true, false, false])
  const AsyncFunction = (async () => {}).constructor
  // `await using` falls back to Symbol.dispose when there is no Symbol.asyncDispose.
  const awaited = new AsyncFunction('map', `
    {
      await using entry = map.acquire('d', 4)
      await null
      if (!map.has('d')) throw new Error('released too early')
    }
    return map.has('d')
  `)
  assert.equal(await awaited(map), false)
  assert.equal(map.size, 0)
  assert.equal(map.report().removes, 5)
})
