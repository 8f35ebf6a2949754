'use strict'
// The registry is process-wide. A map created inside a worker_threads
// Worker appears in registry.report() on the main thread, labelled with the
// worker's threadId, and disappears when the worker exits or is terminated.
//
// This file is also the workers' script (see the end of the file), so the
// worker's call sites are lines of this file too.

const { isMainThread, parentPort, workerData, threadId: ownThreadId, Worker } = require('node:worker_threads')
const { HandleMap, registry, formatReport } = require('..')

function workerInsert (map, key) { map.set(key, { key }) } // @workerInsert
function workerRemove (map, key) { map.delete(key) }

if (isMainThread) {
  mainThread()
} else {
  workerThread()
}

function mainThread () {
  const { test } = require('node:test')
  const assert = require('node:assert/strict')
  const { once } = require('node:events')
  const { setTimeout: sleep } = require('node:timers/promises')

  const lineOf = require('./support/source.js').markerLines(__filename)

  /** Polls `probe` until it returns a truthy value; fails after `ms`. */
  async function eventually (what, probe, ms = 15_000) {
    const deadline = Date.now() + ms
    let last
    for (;;) {
      last = probe()
      if (last) return last
      if (Date.now() > deadline) assert.fail(`${what}: not seen within ${ms} ms`)
      await sleep(10)
    }
  }

  function mapsNamed (name) {
    return registry.report({ map: name }).maps
  }

  function startWorker (data) {
    const worker = new Worker(__filename, { workerData: data })
    worker.on('error', error => { throw error })
    return worker
  }

  test("a worker's map appears on the main thread with the worker's threadId, and leaves when the worker exits", async () => {
    const name = 'workers.held'
    const worker = startWorker({ mode: 'hold', name, count: 7, flushInterval: 20 })
    const threadId = worker.threadId
    assert.ok(threadId > 0)
    try {
      const [ready] = await once(worker, 'message')
      assert.deepEqual(ready, { ready: true, threadId })

      // Figures read from another thread lag by up to its flush interval: poll.
      const [seen] = await eventually('the worker map with 7 live entries', () => {
        const maps = mapsNamed(name)
        return maps.length === 1 && maps[0].live === 7 ? maps : null
      })
      assert.equal(seen.threadId, threadId)
      assert.notEqual(seen.threadId, ownThreadId)
      assert.equal(seen.flushIntervalMs, 20)
      assert.deepEqual([seen.inserts, seen.removes], [9, 2])
      assert.equal(seen.sites.length, 1)
      const expectedSite = `workerInsert (${__filename}:${lineOf('workerInsert')}:`
      assert.ok(seen.sites[0].site.startsWith(expectedSite), seen.sites[0].site)
      assert.equal(seen.sites[0].live, 7)
      assert.equal(typeof seen.oldestAgeMs, 'number')
      assert.equal(seen.oldestEntries, undefined)
      // Another thread's keys are not readable here: no oldest entries for it.
      assert.equal(registry.report({ map: name, oldest: 3, includeKeys: true }).maps[0].oldestEntries, undefined)

      const header = formatReport(registry.report({ map: name })).split('\n')[0]
      assert.ok(header.startsWith(`${name}  live=7  inserts=9  removes=2`), header)
      assert.ok(header.includes(`thread=${threadId}`), header)
      assert.ok(registry.snapshot().maps.some(m => m.name === name && m.threadId === threadId))

      // The worker exits on its own (its map was never closed).
      worker.postMessage('exit')
      const [code] = await once(worker, 'exit')
      assert.equal(code, 0)
      await eventually('the worker map gone from the registry', () => mapsNamed(name).length === 0)
      assert.ok(!registry.snapshot().maps.some(m => m.threadId === threadId))
    } finally {
      await worker.terminate()
    }
  })

  test('a worker terminated in the middle of operations leaves the registry; nothing crashes', async () => {
    const local = new HandleMap({ name: 'workers.local', strict: false })
    const workers = [0, 1, 2].map(i => startWorker({ mode: 'busy', name: `workers.busy.${i}`, flushInterval: 5 }))
    const threadIds = workers.map(w => w.threadId)
    try {
      local.set('mine', 1)
      await Promise.all(workers.map(w => once(w, 'message')))
      // Read the busy maps while they churn, until each shows some traffic.
      for (let i = 0; i < 3; i++) {
        await eventually(`traffic in workers.busy.${i}`, () => {
          const all = registry.report()
          formatReport(all)
          registry.diff(registry.snapshot(), registry.snapshot())
          const [busy] = all.maps.filter(m => m.name === `workers.busy.${i}`)
          return busy !== undefined && busy.inserts > 1000
        })
      }
      const before = registry.report()
      for (let i = 0; i < 3; i++) {
        const [busy] = before.maps.filter(m => m.name === `workers.busy.${i}`)
        assert.equal(busy.threadId, threadIds[i])
        assert.equal(busy.live, busy.inserts - busy.removes - busy.expired)
      }

      // Terminate one while the main thread keeps reading, then the others.
      const reading = (async () => {
        for (let i = 0; i < 50; i++) {
          registry.report()
          registry.snapshot()
          await sleep(1)
        }
      })()
      await workers[0].terminate()
      await reading
      await eventually('workers.busy.0 gone', () => mapsNamed('workers.busy.0').length === 0)
      assert.equal(mapsNamed('workers.busy.1').length, 1, 'the other workers are still there')
      await Promise.all(workers.slice(1).map(w => w.terminate()))
      await eventually('every busy map gone', () => !registry.report().maps.some(m => m.name.startsWith('workers.busy.')))

      // This thread's map is untouched and reports still work.
      const [mine] = mapsNamed('workers.local')
      assert.deepEqual([mine.live, mine.threadId], [1, ownThreadId])
    } finally {
      await Promise.all(workers.map(w => w.terminate()))
      local.close()
    }
  })
}

function workerThread () {
  const { name, mode, count, flushInterval } = workerData
  const map = new HandleMap({ name, flushInterval, strict: false })
  if (mode === 'hold') {
    for (let i = 0; i < count + 2; i++) workerInsert(map, i)
    workerRemove(map, 0)
    workerRemove(map, 1)
    parentPort.postMessage({ ready: true, threadId: ownThreadId })
    // On 'exit', let the event loop run dry: the worker ends without close().
    parentPort.once('message', () => parentPort.close())
    return
  }
  // 'busy': set and delete until terminated.
  parentPort.postMessage({ ready: true, threadId: ownThreadId })
  let next = 0
  function churn () {
    for (let i = 0; i < 2000; i++) {
      workerInsert(map, next++)
      if (next % 3 !== 0) workerRemove(map, next - 1)
    }
    setImmediate(churn)
  }
  churn()
}
