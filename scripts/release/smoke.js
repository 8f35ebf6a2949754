'use strict'
// What a user does first, run inside a fresh app where handle-ledger was
// installed from its tarballs (scripts/release/check.js for each target;
// __test__/packaging.test.js for this machine). Fails with an assertion when
// anything is off; on success prints one JSON line:
//   { leak: 'smoke.js:<line>', esm: true, route: <status>, workerThreadId, features }
// `features` are those of the binary the platform package brought (buildInfo()),
// for the caller to judge: a release must have none.
//
// This file is also the worker's script, so nothing here may spawn a process
// (under qemu-user without binfmt_misc a child `node` cannot start).
const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const { once } = require('node:events')
const { isMainThread, parentPort, Worker } = require('node:worker_threads')
const { HandleMap, registry } = require('handle-ledger')
const { debugHandles } = require('handle-ledger/http')

const WORKER_MAP = 'smoke.worker'

if (isMainThread) {
  main().catch(error => {
    process.exitCode = 1
    console.error(error)
  })
} else {
  const map = new HandleMap({ name: WORKER_MAP, flushInterval: 20 })
  for (let id = 0; id < 3; id++) map.set(id, { id })
  parentPort.postMessage('ready')
  parentPort.once('message', () => process.exit(0))
}

async function main () {
  const leak = leakFoundAtItsLine()
  await esmImportIsTheSameModule()
  const workerThreadId = await workerMapInRegistry()
  const route = await routeAnswersOverLoopback()
  const platformPackage = process.argv[2]
  const features = platformPackage ? require(platformPackage).buildInfo().features : null
  process.stdout.write(JSON.stringify({ leak, esm: true, route, workerThreadId, features }) + '\n')
}

function startCall (calls, id) {
  calls.set(id, { id }) // @leaky-insert
}

function leakFoundAtItsLine () {
  const calls = new HandleMap({ name: 'smoke.calls' })
  for (let id = 0; id < 5; id++) startCall(calls, id)
  const line = fs.readFileSync(__filename, 'utf8').split('\n').findIndex(text => text.endsWith('// @leaky-insert')) + 1
  // judged at any age (outlierFloorMs 0): these entries are milliseconds old
  const { sites, live } = calls.report({ outlierFloorMs: 0 })
  assert.equal(live, 5)
  assert.equal(sites.length, 1, JSON.stringify(sites))
  assert.match(sites[0].site, new RegExp(`^startCall \\(.*smoke\\.js:${line}:\\d+\\)$`))
  assert.equal(sites[0].suspect, true)
  return `smoke.js:${line}`
}

async function esmImportIsTheSameModule () {
  const esm = await import('handle-ledger')
  const cjs = require('handle-ledger')
  assert.equal(esm.default, cjs)
  assert.deepEqual(Object.keys(cjs).filter(name => esm[name] !== cjs[name]), [])
}

async function workerMapInRegistry () {
  const worker = new Worker(__filename)
  try {
    await once(worker, 'message')
    const deadline = Date.now() + 15_000
    let maps
    // Figures from another thread arrive at its flush interval: poll.
    while ((maps = registry.report({ map: WORKER_MAP }).maps).length === 0 || maps[0].live !== 3) {
      assert.ok(Date.now() < deadline, `the worker's map ${WORKER_MAP} is not in the registry: ${JSON.stringify(maps)}`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    assert.equal(maps[0].threadId, worker.threadId)
    return worker.threadId
  } finally {
    worker.postMessage('exit')
    await once(worker, 'exit')
  }
}

async function routeAnswersOverLoopback () {
  const server = http.createServer(debugHandles())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    const response = await fetch(`http://127.0.0.1:${server.address().port}/debug/handles?format=json`)
    const body = await response.json()
    assert.equal(response.status, 200)
    assert.ok(body.maps.some(map => map.name === 'smoke.calls'), JSON.stringify(body).slice(0, 500))
    return response.status
  } finally {
    server.close()
  }
}
