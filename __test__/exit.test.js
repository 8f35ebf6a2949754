'use strict'
// Exit is never held. Each child process creates maps with
// TTLs far longer than the test's deadline and leaves entries in them (and in
// some, mounts the /debug/handles route on a server, requests it and closes
// the server); it must then exit by itself, with status 0. A map timer that
// kept the event loop alive would hold the child for the TTL (10 minutes),
// long past the deadline, and fail the test.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const DEADLINE_MS = 30_000 // a hang detector: the children need well under a second
const TTL = 10 * 60_000

const PRELUDE = `
  const { HandleMap, registry, leakCheck } = require(${JSON.stringify(ROOT)})
  const { debugHandles } = require(${JSON.stringify(ROOT + '/http.js')})
  const http = require('node:http')
  const TTL = ${TTL}
  function fill (map, n) { for (let i = 0; i < n; i++) map.set('k' + i, { i }); return map }
  function get (port, path) {
    return new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path }, res => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', chunk => { body += chunk })
        res.on('end', () => resolve({ status: res.statusCode, body }))
      }).on('error', reject)
    })
  }
`

const CHILDREN = {
  'maps with TTLs and entries left in them': `
    for (let m = 0; m < 5; m++) fill(new HandleMap({ name: 'exit-ttl-' + m, ttl: TTL, strict: false }), 1000)
    fill(new HandleMap({ name: 'exit-no-ttl', strict: false }), 1000)
    console.log('done')
  `,
  'every call-site mode, the shortest flush interval, a custom clock': `
    let now = 0
    for (const callSites of ['all', 'sampled', 'off']) {
      fill(new HandleMap({ ttl: TTL, callSites, flushInterval: 1, strict: false }), 200)
      fill(new HandleMap({ ttl: TTL, callSites, clock: () => now, flushInterval: 1, strict: false }), 200)
    }
    console.log('done')
  `,
  'strict maps whose entries expire (leak warnings), and an onExpire that re-inserts forever': `
    process.on('warning', () => {})
    const strict = fill(new HandleMap({ name: 'exit-strict', ttl: 5, flushInterval: 1, strict: true }), 50)
    const forever = new HandleMap({ name: 'exit-forever', ttl: 5, flushInterval: 1, strict: false, onExpire: e => forever.set(e.key, e.value) })
    fill(forever, 50)
    setTimeout(() => {
      if (registry.report({ map: 'exit-strict' }).maps[0].expired !== 50) throw new Error('strict entries did not expire')
      console.log('done')
    }, 100)
  `,
  '/debug/handles mounted on an http server, requested in every format, server closed': `
    fill(new HandleMap({ name: 'exit-route', ttl: TTL, strict: false }), 100)
    const handler = debugHandles()
    const server = http.createServer((req, res) => {
      if (req.url.startsWith('/debug/handles')) return handler(req, res)
      res.statusCode = 404
      res.end()
    })
    server.listen(0, '127.0.0.1', async () => {
      const { port } = server.address()
      for (const format of ['json', 'text', 'html', 'prometheus']) {
        const res = await get(port, '/debug/handles?format=' + format)
        if (res.status !== 200 || !res.body.includes('exit-route')) throw new Error(format + ': ' + res.status + ' ' + res.body.slice(0, 200))
      }
      server.close(() => console.log('done'))
    })
  `,
  '/debug/handles on an Express app with a keep-alive client, server closed': `
    const express = require('express')
    fill(new HandleMap({ name: 'exit-express', ttl: TTL, strict: false }), 100)
    const app = express()
    app.get('/debug/handles', debugHandles())
    const server = app.listen(0, '127.0.0.1', async () => {
      const { port } = server.address()
      const agent = new http.Agent({ keepAlive: true })
      const res = await new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/debug/handles', agent }, r => {
          let body = ''
          r.on('data', c => { body += c })
          r.on('end', () => resolve({ status: r.statusCode, body }))
        }).on('error', reject)
      })
      if (res.status !== 200 || !res.body.includes('exit-express')) throw new Error(res.status + ' ' + res.body.slice(0, 200))
      server.close(() => console.log('done'))
    })
  `,
  'maps created in a worker thread that finished': `
    const { Worker } = require('node:worker_threads')
    fill(new HandleMap({ name: 'exit-main', ttl: TTL, strict: false }), 10)
    const worker = new Worker(\`
      const { HandleMap } = require(${JSON.stringify(ROOT)})
      const m = new HandleMap({ name: 'exit-in-worker', ttl: ${TTL}, strict: false })
      for (let i = 0; i < 100; i++) m.set(i, i)
    \`, { eval: true })
    worker.on('exit', code => {
      if (code !== 0) throw new Error('worker exit ' + code)
      if (registry.report({ map: 'exit-in-worker' }).maps.length !== 0) throw new Error('worker map still registered')
      console.log('done')
    })
  `,
  'a thousand maps never closed, reports, snapshots and a leakCheck': `
    const maps = []
    for (let m = 0; m < 1000; m++) maps.push(fill(new HandleMap({ ttl: TTL, strict: false }), 5))
    registry.report({ oldest: 3, includeKeys: true })
    const a = registry.snapshot()
    registry.diff(a, registry.snapshot())
    leakCheck(async () => {}, { settleMs: 0 }).then(() => console.log('done'))
  `,
  'maps closed, some dropped for the GC': `
    for (let m = 0; m < 100; m++) {
      const map = fill(new HandleMap({ ttl: TTL, strict: false }), 10)
      if (m % 2 === 0) map.close()
    }
    console.log('done')
  `
}

function runChild (source, deadlineMs = DEADLINE_MS) {
  return new Promise(resolve => {
    const started = Date.now()
    const child = spawn(process.execPath, ['-e', PRELUDE + source], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', chunk => { stdout += chunk })
    child.stderr.on('data', chunk => { stderr += chunk })
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs)
    child.on('exit', (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

test('processes with maps (TTLs, entries, the /debug/handles route) exit by themselves', async t => {
  // The detector itself: a child whose event loop is held (as a ref'd map
  // timer would hold it) is caught and killed.
  const control = runChild('setInterval(() => {}, 1000); console.log(\'done\')', 2_000)
  const results = await Promise.all(Object.entries(CHILDREN).map(async ([name, source]) => [name, await runChild(source)]))
  const held = await control
  assert.equal(held.signal, 'SIGKILL', 'control: a child with a ref\'d interval must be caught as held')
  for (const [name, result] of results) {
    await t.test(name, () => {
      assert.equal(result.signal, null, `held: still running after ${DEADLINE_MS} ms, killed (stdout: ${result.stdout.trim()}; stderr: ${result.stderr.slice(0, 300)})`)
      assert.equal(result.status, 0, `exit status ${result.status}: ${result.stderr.slice(0, 500)}`)
      assert.match(result.stdout, /done/, 'the child finished its work')
      t.diagnostic(`${name}: exited ${result.ms} ms after start`)
    })
  }
})
