'use strict'
// A map that leaves without close() (collected, or its worker ended) still
// has its last operations in its log: they count, so per-name counters are
// whole (lib/map/handle-map.js's finalizer, lib/map/live-maps.js's worker exit).

const test = require('node:test')
const assert = require('node:assert/strict')
const { once } = require('node:events')

test('a map that leaves without close() is counted in full: collected, or its worker ended', async () => {
  const { spawnSync } = require('node:child_process')
  const root = require('node:path').join(__dirname, '..')
  // Collected: a long flush interval, so its operations are all still in its log.
  const collected = spawnSync(process.execPath, ['--expose-gc', '-e', `
    const { HandleMap } = require(${JSON.stringify(root)})
    const native = require(${JSON.stringify(root)} + '/binding.js')
    ;(() => {
      const map = new HandleMap({ name: 'collected-unclosed', flushInterval: 60000, strict: false })
      for (let i = 0; i < 1000; i++) map.set(i, i)
      for (let i = 0; i < 400; i++) map.delete(i)
    })()
    const wait = () => new Promise(resolve => setTimeout(resolve, 20))
    ;(async () => {
      for (let i = 0; i < 100; i++) {
        globalThis.gc()
        await wait()
        const [totals] = native.registryTotals('collected-unclosed')
        if (totals.liveMaps === 0) { console.log(JSON.stringify(totals)); return }
      }
      console.log('never collected')
    })()
  `], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(collected.status, 0, collected.stderr)
  const totals = JSON.parse(collected.stdout)
  assert.deepEqual([totals.inserts, totals.removes, totals.closedMaps], [1000, 400, 1])

  // A worker that ends on its own with its map open.
  const { Worker } = require('node:worker_threads')
  const native = require('../binding.js')
  const worker = new Worker(`
    const { HandleMap } = require(${JSON.stringify(root)})
    const map = new HandleMap({ name: 'worker-unclosed', flushInterval: 60000, strict: false })
    for (let i = 0; i < 1000; i++) map.set(i, i)
    for (let i = 0; i < 300; i++) map.delete(i)
  `, { eval: true })
  const [code] = await once(worker, 'exit')
  assert.equal(code, 0)
  const [ended] = native.registryTotals('worker-unclosed')
  assert.deepEqual([ended.inserts, ended.removes, ended.liveMaps], [1000, 300, 0])
})
