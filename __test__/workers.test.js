'use strict'
// Workers come and go. 50 workers use maps (TTLs, entries,
// reports, every call-site mode) and end in every way a worker can: finishing
// by itself, terminated mid-operation (a tight loop of map calls), terminated
// while idle, an uncaught exception, process.exit() inside the worker.
// Afterwards the registry holds none of their maps, the main thread's maps
// are intact (same ids, figures, contents, still working), and nothing
// crashed.
//
// This file is also the workers' script (see workerMain at the end).

const { isMainThread, parentPort, workerData, threadId, Worker } = require('node:worker_threads')
const { HandleMap, registry } = require('..')

const WORKERS = 50
const CONCURRENCY = 8
const MODES = ['finish', 'busy', 'idle', 'throw', 'exit']

if (isMainThread) {
  mainThread()
} else {
  workerMain()
}

function workerMain () {
  const { index, mode } = workerData
  const prefix = `worker-${index}-${mode}`
  const maps = [
    new HandleMap({ name: `${prefix}-ttl`, ttl: 20, flushInterval: 5, strict: false, onExpire: () => {} }),
    new HandleMap([['a', 1], [{ o: 1 }, 2], [NaN, 3]], { name: `${prefix}-entries`, strict: false, callSites: 'all' }),
    new HandleMap({ name: `${prefix}-sampled`, strict: false, callSites: 'sampled', sampleRate: 4 })
  ]
  let counter = 0
  const work = n => {
    for (let i = 0; i < n; i++) {
      const key = counter++
      for (const map of maps) map.set(key, { key })
      if (key % 3 !== 0) for (const map of maps) map.delete(key)
      if (key % 500 === 0) {
        registry.report({ limit: 3 })
        maps[1].report({ oldest: 2, includeKeys: true })
      }
    }
  }
  work(1000)
  parentPort.postMessage({ ready: true, threadId, names: maps.map(m => m.name) })
  // Go on once the main thread has seen the maps in the registry.
  parentPort.once('message', () => {
    parentPort.unref()
    proceed(mode, maps, work)
  })
}

function proceed (mode, maps, work) {
  switch (mode) {
    case 'finish':
      work(2000)
      maps[0].close()
      parentPort.postMessage({ done: true })
      return // the worker ends when its event loop is empty: the maps' timers must not hold it
    case 'busy':
      for (;;) work(100) // terminated in the middle of map operations
    case 'idle':
      setInterval(() => work(10), 1)
      return
    case 'throw':
      setTimeout(() => { throw new Error('worker blew up on purpose') }, 5)
      return
    case 'exit':
      setTimeout(() => process.exit(3), 5)
  }
}

function mainThread () {
  const test = require('node:test')
  const assert = require('node:assert/strict')
  const { setTimeout: sleep } = require('node:timers/promises')

  function snapshotOf (map) {
    const report = map.report({ limit: 100 })
    return {
      id: report.id,
      entries: [...map.entries()],
      figures: { live: report.live, inserts: report.inserts, removes: report.removes, expired: report.expired, overwrites: report.overwrites, sites: report.sites.map(s => [s.site, s.live, s.inserts]) }
    }
  }

  async function runWorker (index, mode) {
    const worker = new Worker(__filename, { workerData: { index, mode } })
    const errors = []
    worker.on('error', error => errors.push(error))
    // (events.once would reject on the 'error' event the 'throw' workers raise.)
    const exited = new Promise(resolve => worker.on('exit', code => resolve([code])))
    const message = new Promise(resolve => worker.once('message', resolve))
    const ready = await Promise.race([message, exited.then(([code]) => { throw new Error(`worker ${index} (${mode}) exited with ${code} before it was ready: ${errors.join('; ')}`) })])
    assert.equal(ready.ready, true)
    // Its maps are visible from this thread, labelled with its threadId.
    const seen = registry.report({ limit: 0 }).maps.filter(m => ready.names.includes(m.name))
    assert.ok(seen.length >= 1, `worker ${index}: none of its maps in registry.report()`)
    assert.equal(seen.length, 3, `worker ${index}: its three maps in registry.report()`)
    for (const m of seen) assert.equal(m.threadId, ready.threadId, `worker ${index}: map ${m.name} labelled with thread ${m.threadId}`)
    worker.postMessage('go')
    let code
    if (mode === 'busy' || mode === 'idle') {
      await sleep(index % 7 * 3) // terminate at some point mid-work
      code = await worker.terminate()
    } else {
      ;[code] = await exited
    }
    return { index, mode, code, errors, threadId: ready.threadId, names: ready.names }
  }

  test(`${WORKERS} workers with maps start and end (finished, terminated mid-operation, idle, thrown, exited): none of their maps stay registered, the main thread's maps are intact`, async () => {
    const mainMaps = [
      new HandleMap(Array.from({ length: 100 }, (_, i) => [`main-${i}`, i]), { name: 'workers-test-main-plain', strict: false, callSites: 'all' }),
      new HandleMap({ name: 'workers-test-main-ttl', ttl: 600_000, strict: false, onExpire: () => assert.fail('a main-thread entry expired') })
    ]
    for (let i = 0; i < 50; i++) mainMaps[1].set({ request: i }, { i })
    mainMaps[0].delete('main-0')
    const before = mainMaps.map(snapshotOf)

    const results = []
    let nextIndex = 0
    async function lane () {
      while (nextIndex < WORKERS) {
        const index = nextIndex++
        results.push(await runWorker(index, MODES[index % MODES.length]))
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, lane))
    assert.equal(results.length, WORKERS)

    // How each ended: only the 'throw' workers report an error, and it is theirs.
    for (const r of results) {
      if (r.mode === 'throw') {
        assert.equal(r.errors.length, 1, `worker ${r.index}: ${r.errors}`)
        assert.match(r.errors[0].message, /worker blew up on purpose/)
        assert.equal(r.code, 1)
      } else {
        assert.deepEqual(r.errors, [], `worker ${r.index} (${r.mode}) raised an error`)
        assert.equal(r.code, { finish: 0, busy: 1, idle: 1, exit: 3 }[r.mode], `worker ${r.index} (${r.mode}) exit code`)
      }
    }

    // None of their maps remain, by name or by thread.
    const threads = new Set(results.map(r => r.threadId))
    const names = new Set(results.flatMap(r => r.names))
    const left = registry.report({ limit: 0 }).maps.filter(m => threads.has(m.threadId) || names.has(m.name))
    assert.deepEqual(left.map(m => `${m.name} (thread ${m.threadId})`), [], 'maps of ended workers are still registered')
    const snapshot = registry.snapshot()
    assert.equal(snapshot.maps.filter(m => threads.has(m.threadId)).length, 0)

    // The main thread's maps: same ids, figures and contents, still registered, still working.
    const after = mainMaps.map(snapshotOf)
    assert.deepEqual(after, before)
    const ids = new Set(registry.report({ limit: 0 }).maps.map(m => m.id))
    for (const b of before) assert.ok(ids.has(b.id), `main map ${b.id} left the registry`)
    mainMaps[0].set('after-workers', 1)
    mainMaps[0].delete('main-1')
    const report = mainMaps[0].report()
    assert.equal(report.live, 99) // 100 - main-0 + after-workers - main-1
    assert.equal(report.inserts - report.removes - report.expired, report.live)
    for (const map of mainMaps) map.close()
  })
}
