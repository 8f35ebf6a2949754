'use strict'
// Real saved reports of every kind, for the checks of the report contract
// (report.schema.json and index.d.ts): each rule's suspect site (never
// removed, outliers, expiry share, growth in a diff), held entries, an
// instrumented library Map, sampled estimates, other callers, oldest entries
// with keys, a worker's map, a snapshot, a diff, a map's own report and the
// route's bounded JSON. Each is JSON round-tripped, as a file holds it.
//
// realReports() -> [{ label, def, type, value }]: `def` is the schema's
// $defs entry it conforms to (undefined: the whole schema), `type` the
// index.d.ts type a saved copy has.

const { Worker } = require('node:worker_threads')
const { once } = require('node:events')
const { HandleMap, registry, instrument, uninstrument } = require('../..')
const { debugHandles } = require('../../http.js')
const { listen } = require('./http.js')
const { internals } = require('../../lib/map/internals.js')

const saved = value => JSON.parse(JSON.stringify(value))

// Maps on a fake clock: `advance(ms)` moves it, so lifetimes and ages are exact.
function clockedMap (name, options = {}) {
  const clock = { now: 0 }
  const map = new HandleMap({ name, callSites: 'all', strict: false, clock: () => clock.now, ...options })
  return { map, clock }
}

function neverRemoved (maps) {
  const { map, clock } = clockedMap('contract-never-removed')
  maps.push(map)
  for (let i = 0; i < 3; i++) map.set(i, { i })
  clock.now += 1000 // the verdict needs the oldest entry outlierFloorMs (1 s) old
}

// 30 calls removed after 10 ms set the normal lifetime; one left 60 s is an outlier.
function outliers (maps) {
  const { map, clock } = clockedMap('contract-outliers')
  maps.push(map)
  const call = (key, finish) => {
    map.set(key, {})
    clock.now += 10
    if (finish) map.delete(key)
  }
  for (let i = 0; i <= 30; i++) call(i, i < 30) // the same stack for all: one caller
  clock.now += 60_000
}

// A TTL: 5 of 100 entries expire, the rest are removed.
function expiryShare (maps) {
  const { map, clock } = clockedMap('contract-expiry-share', { ttl: 1000 })
  maps.push(map)
  for (let i = 0; i < 100; i++) map.set(i, {})
  for (let i = 0; i < 95; i++) map.delete(i)
  clock.now += 2000
  map.purgeExpired()
}

// One caller of a shared helper never removes; the other two do (their 30
// lifetimes of 10 ms make 60 s old entries stand out). With one caller row
// shown, the rest are summed into otherCallers.
function sharedHelper (maps) {
  const { map, clock } = clockedMap('contract-callers')
  maps.push(map)
  const helper = key => map.set(key, {})
  function leakingRoute (i) { helper(`leak-${i}`) }
  function cleanRoute (i) { helper(`ok-${i}`); clock.now += 10; map.delete(`ok-${i}`) }
  function otherRoute (i) { helper(`other-${i}`); clock.now += 10; map.delete(`other-${i}`) }
  for (let i = 0; i < 5; i++) leakingRoute(i)
  for (let i = 0; i < 30; i++) {
    cleanRoute(i)
    otherRoute(i)
  }
  clock.now += 60_000
}

// Sites with long file names, enough that the route's 16 KB bound leaves some out.
function manySites (maps) {
  const map = new HandleMap({ name: 'contract-many-sites', callSites: 'all', strict: false })
  maps.push(map)
  for (let i = 0; i < 20; i++) {
    const insert = new Function('map', 'key', `map.set(key, {})\n//# sourceURL=${'long-file-name-'.repeat(50)}${i}.js`) // eslint-disable-line no-new-func
    insert(map, i)
  }
}

function held (maps) {
  const { map } = clockedMap('contract-held')
  maps.push(map)
  map.acquire('pending-call', {})
  map.hold('finished-call', {}, () => {})
}

// A ledger that refused a batch and was rebuilt from the map: its report has `reset`.
function rebuilt (maps) {
  const { map, clock } = clockedMap('contract-rebuilt')
  maps.push(map)
  map.set('a', 1)
  map.set('b', 2)
  map.report()
  internals.nativeLedger(map).drain(new Int32Array([0 << 3 | 2]), 1, clock.now, -1, false) // frees slot 0 behind the map's back
  map.delete('a')
  map.report()
}

function sampled (maps) {
  const map = new HandleMap({ name: 'contract-sampled', callSites: 'sampled', sampleRate: 4, strict: false })
  maps.push(map)
  for (let i = 0; i < 400; i++) map.set(i, {})
  for (let i = 0; i < 300; i++) map.delete(i)
}

function instrumented (maps, cleanups) {
  const library = { pending: new Map([[1, 'already pending']]) }
  const map = instrument(library, 'pending', { name: 'contract-instrumented', callSites: 'all', strict: false })
  library.pending.set(2, 'new request')
  cleanups.push(() => uninstrument(library, 'pending'))
  return map
}

// A worker's map, read from the main thread while the worker waits.
async function workerMap (cleanups) {
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads')
    const { HandleMap } = require(${JSON.stringify(require.resolve('../..'))})
    const map = new HandleMap({ name: 'contract-worker', callSites: 'all', strict: false, flushInterval: 10 })
    for (let i = 0; i < 4; i++) map.set(i, {})
    map.delete(0)
    map.report() // drained: the main thread reads it as of now
    parentPort.postMessage('ready')
    parentPort.once('message', () => map.close())
  `, { eval: true })
  const [message] = await once(worker, 'message')
  if (message !== 'ready') throw new Error(`worker said ${message}`)
  cleanups.push(async () => {
    const exited = once(worker, 'exit')
    worker.postMessage('done')
    await exited
  })
}

// The growth rule needs a window: two snapshots of a map on a fake clock.
function growthDiff (maps) {
  const { map, clock } = clockedMap('contract-growth')
  maps.push(map)
  let id = 0
  const inFlight = []
  const traffic = () => {
    const key = id++
    map.set(key, {})
    inFlight.push([key, key % 10 === 7]) // one call in ten loses its cleanup
    if (inFlight.length > 2) {
      const [done, lost] = inFlight.shift()
      if (!lost) map.delete(done)
    }
  }
  const run = ms => { for (const end = clock.now + ms; clock.now < end; clock.now += 10) traffic() }
  run(1_000)
  const older = registry.snapshot({ map: 'contract-growth' })
  older.at = 0
  run(8_000)
  const newer = registry.snapshot({ map: 'contract-growth' })
  newer.at = 8_000
  return registry.diff(older, newer)
}

async function routeJson () {
  const server = await listen(debugHandles({ maxBytes: 32768, oldest: 2, includeKeys: true }))
  try {
    const response = await fetch(`${server.url}/debug/handles?format=json`)
    return response.json()
  } finally {
    await server.close()
  }
}

/** Every kind of saved report; `close()` ends the maps and the worker. */
async function realReports () {
  const maps = []
  const cleanups = []
  try {
    neverRemoved(maps)
    outliers(maps)
    expiryShare(maps)
    sharedHelper(maps)
    manySites(maps)
    held(maps)
    rebuilt(maps)
    sampled(maps)
    maps.push(instrumented(maps, cleanups))
    await workerMap(cleanups)
    const report = registry.report({ oldest: 2, includeKeys: true })
    const reports = [
      { label: 'registry.report() of every map, a worker\'s included', type: 'RegistryReport', value: saved(report) },
      { label: 'registry.report({ callers: 1 }): other callers summed', type: 'RegistryReport', value: saved(registry.report({ map: 'contract-callers', callers: 1 })) },
      { label: 'registry.snapshot()', type: "Omit<Snapshot, 'diff'>", value: saved(registry.snapshot()) },
      { label: 'registry.diff() of two snapshots (a closed map, the growth rule)', type: 'Diff', value: saved(growthDiffWithClosedMap(maps)) },
      { label: 'map.report({ oldest, includeKeys })', def: 'mapReport', type: 'MapReport', value: saved(maps[0].report({ oldest: 2, includeKeys: true })) },
      { label: '/debug/handles?format=json, bounded (truncated)', type: 'RegistryReport', value: await routeJson() }
    ]
    return { reports, close: () => closeAll(maps, cleanups) }
  } catch (error) {
    await closeAll(maps, cleanups)
    throw error
  }
}

function growthDiffWithClosedMap (maps) {
  const closing = new HandleMap({ name: 'contract-closed', strict: false })
  closing.set('x', 1)
  const before = registry.snapshot()
  closing.close()
  const closedDiff = registry.diff(before, registry.snapshot())
  const growth = growthDiff(maps)
  return { ...growth, maps: [...growth.maps, ...closedDiff.maps.filter(map => map.closed)] }
}

async function closeAll (maps, cleanups) {
  for (const cleanup of cleanups.reverse()) await cleanup()
  for (const map of maps) map.close()
}

module.exports = { realReports }
