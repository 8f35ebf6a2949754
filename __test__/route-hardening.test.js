'use strict'
// The route and the messages under attack, over real HTTP on 127.0.0.1:
// - a loopback client whose Host names another site (DNS rebinding) is refused
//   by default, and allow(req) still decides when given;
// - ?seconds=N requests are bounded in number (429 with Retry-After beyond the
//   bound) and each holds a compact snapshot while it waits;
// - registry.report({ oldest }) reads each map's registry id once per report;
// - control characters in a script's path reach no warning or leakCheck message.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const http2 = require('node:http2')
const net = require('node:net')
const v8 = require('node:v8')
const vm = require('node:vm')
const { once } = require('node:events')
const { registry, leakCheck, HandleLeakError } = require('..')
const { debugHandles } = require('../http.js')
const { isLoopbackHost } = require('../lib/http/guard.js')
const { internals } = require('../lib/map/handle-map.js')
const { newMap } = require('./support/maps.js')

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

function leakyInsert (map, key) { map.set(key, { socket: key }) }

const guarded = newMap({ name: 'rh-guarded', callSites: 'all' })
for (let i = 0; i < 3; i++) leakyInsert(guarded, `secret-${i}`)

async function listen (handler) {
  const server = http.createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: server.address().port,
    url: `http://127.0.0.1:${server.address().port}`,
    async close () {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}

/** A request to 127.0.0.1:port with exactly these headers (fetch will not send a forged Host). */
function request (port, { path: requestPath = '/debug/handles?format=json', headers = {}, signal } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: requestPath, headers, signal, agent: false }, res => {
      const chunks = []
      res.on('data', chunk => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    req.end()
  })
}

// ---- the Host header ------------------------------------------------------

const LOOPBACK_HOSTS = ['localhost', 'localhost:3000', 'LocalHost:8080', 'localhost.', 'app.localhost:5173', '127.0.0.1', '127.0.0.1:9229', '127.1.2.3:80', '[::1]', '[::1]:3000', '[0:0:0:0:0:0:0:1]:1']
const FOREIGN_HOSTS = [
  'attacker.example', 'attacker.example:3000', 'rebind.attacker.example:8080', 'localhost.attacker.example',
  '127.0.0.1.nip.io', '127.256.0.1', '0.0.0.0:3000', '10.0.0.1', '[::2]:80', '[::1', 'localhost:80:80', 'localhost:x',
  'a..localhost', 'localhost..', '127.0.0.1:80@attacker.example', 'localhost attacker.example'
]

test('isLoopbackHost: loopback names and addresses with any port, nothing else', () => {
  for (const host of LOOPBACK_HOSTS) assert.equal(isLoopbackHost(host), true, host)
  for (const host of [...FOREIGN_HOSTS, '', undefined, null, 5]) assert.equal(isLoopbackHost(host), false, JSON.stringify(host))
})

test('a loopback client sending a foreign Host (DNS rebinding) gets a 403 without data; loopback Hosts are answered', async () => {
  const server = await listen(debugHandles())
  try {
    for (const host of FOREIGN_HOSTS) {
      const refused = await request(server.port, { headers: { host } })
      assert.equal(refused.status, 403, `Host: ${JSON.stringify(host)}`)
      assert.match(JSON.parse(refused.body).error, /loopback clients only/)
      assert.doesNotMatch(refused.body, /rh-guarded|secret|leakyInsert/)
    }
    for (const host of LOOPBACK_HOSTS) {
      const answered = await request(server.port, { path: '/debug/handles?format=json&map=rh-guarded', headers: { host } })
      assert.equal(answered.status, 200, `Host: ${host}`)
      assert.equal(JSON.parse(answered.body).maps[0].live, 3)
    }
  } finally {
    await server.close()
  }
})

test('an HTTP/1.0 request without Host is refused by default', async () => {
  const server = await listen(debugHandles())
  try {
    const socket = net.connect(server.port, '127.0.0.1')
    socket.end('GET /debug/handles?format=json HTTP/1.0\r\n\r\n')
    let answer = ''
    socket.setEncoding('utf8')
    socket.on('data', chunk => { answer += chunk })
    await once(socket, 'close')
    assert.match(answer, /^HTTP\/1\.[01] 403 /)
    assert.doesNotMatch(answer, /rh-guarded/)
  } finally {
    await server.close()
  }
})

test('allow(req) still decides: it can accept a foreign Host, and loopbackOnly() inside it refuses one', async () => {
  const open = await listen(debugHandles({ allow: () => true }))
  const extended = await listen(debugHandles({ allow: req => debugHandles.loopbackOnly(req) || req.headers['x-token'] === 's3cret' }))
  try {
    const forged = { host: 'rebind.attacker.example' }
    assert.equal((await request(open.port, { headers: forged })).status, 200, 'an allow() that says yes is obeyed')
    assert.equal((await request(extended.port, { headers: forged })).status, 403, 'loopbackOnly() checks the Host too')
    assert.equal((await request(extended.port, { headers: { ...forged, 'x-token': 's3cret' } })).status, 200)
    assert.equal((await request(extended.port, { headers: { host: 'localhost' } })).status, 200)
  } finally {
    await open.close()
    await extended.close()
  }
})

test('HTTP/2: the :authority pseudo-header is the Host', async () => {
  const server = http2.createServer(debugHandles())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = http2.connect(`http://127.0.0.1:${server.address().port}`)
  const statusFor = authority => new Promise((resolve, reject) => {
    const stream = client.request({ ':path': '/debug/handles?format=json', ':authority': authority })
    stream.on('response', headers => resolve(headers[':status']))
    stream.on('error', reject)
    stream.resume()
    stream.end()
  })
  try {
    assert.equal(await statusFor(`localhost:${server.address().port}`), 200)
    assert.equal(await statusFor('rebind.attacker.example'), 403)
  } finally {
    client.close()
    server.close()
  }
})

// ---- ?seconds=N -------------------------------------------------------------

/** Resolves once the handlers have taken `count` first snapshots (the windows are then all open). */
function countSnapshots (count) {
  const snapshot = registry.snapshot
  let taken = 0
  let resolveAll
  const all = new Promise(resolve => { resolveAll = resolve })
  registry.snapshot = function countingSnapshot (...args) {
    if (++taken === count) resolveAll()
    return snapshot.apply(registry, args)
  }
  return { all, restore: () => { registry.snapshot = snapshot } }
}

test('debugHandles option maxDeltas: an integer from 1 to 1000', () => {
  for (const bad of [0, -1, 1.5, 1001, NaN, Infinity, '4']) {
    assert.throws(() => debugHandles({ maxDeltas: bad }), { name: 'RangeError', message: /'maxDeltas' must be an integer from 1 to 1000/ }, String(bad))
  }
  for (const good of [1, 4, 1000]) debugHandles({ maxDeltas: good })
})

test('concurrent ?seconds=N beyond maxDeltas get a 429 with Retry-After; the bound frees as windows close', async () => {
  const server = await listen(debugHandles({ maxDeltas: 3 }))
  try {
    const answers = await Promise.all(Array.from({ length: 10 }, () => request(server.port, { path: '/debug/handles?format=json&seconds=2' })))
    const statuses = answers.map(answer => answer.status).sort()
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429])
    for (const refused of answers.filter(answer => answer.status === 429)) {
      assert.match(refused.headers['retry-after'], /^[12]$/, 'the first open window ends within 2 s')
      assert.match(JSON.parse(refused.body).error, /too many \?seconds=N requests at once \(at most 3\)/)
    }
    for (const diff of answers.filter(answer => answer.status === 200)) assert.equal(JSON.parse(diff.body).kind, 'diff')
    // All windows closed: three fit again.
    const again = await Promise.all(Array.from({ length: 3 }, () => request(server.port, { path: '/debug/handles?format=json&seconds=1' })))
    assert.deepEqual(again.map(answer => answer.status), [200, 200, 200])
  } finally {
    await server.close()
  }
})

test('a client that leaves during ?seconds=N frees its place', async () => {
  const server = await listen(debugHandles({ maxDeltas: 1 }))
  try {
    const client = new AbortController()
    const counting = countSnapshots(1)
    const leaving = request(server.port, { path: '/debug/handles?format=json&seconds=60', signal: client.signal })
    await counting.all
    counting.restore()
    assert.equal((await request(server.port, { path: '/debug/handles?format=json&seconds=1' })).status, 429, 'the one place is taken')
    client.abort()
    await assert.rejects(leaving, { name: 'AbortError' })
    // The server hears of the disconnect on its next read of the socket: ask
    // again until it has (the 60 s window would keep the place for a minute).
    let status = 429
    for (let attempt = 0; attempt < 50 && status === 429; attempt++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      status = (await request(server.port, { path: '/debug/handles?format=json&seconds=1' })).status
    }
    assert.equal(status, 200, 'the place of the client that left is free again')
  } finally {
    await server.close()
  }
})

// Maps like a server's: many, each with a few sites 8 frames deep.
function crowdedMaps (count) {
  const insertAt = []
  for (let s = 0; s < 4; s++) {
    insertAt.push(vm.runInThisContext(`(function insertFromHandler${s} (map, key) {
      function level1 () { level2() } function level2 () { level3() } function level3 () { level4() }
      function level4 () { level5() } function level5 () { level6() } function level6 () { level7() }
      function level7 () { map.set(key, key) }
      level1()
    })`, { filename: path.join(__dirname, 'a-service', 'routes', 'handlers', `handler-number-${s}.js`) }))
  }
  const maps = []
  for (let m = 0; m < count; m++) {
    const map = newMap({ name: `rh-crowded-${m}`, callSites: 'all' })
    for (const insert of insertAt) insert(map, `k${m}`) // the same key: one live entry, four sites
    maps.push(map)
  }
  return maps
}

function heapUsed () {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/**
 * Sends `requests` ?seconds=3 requests at once; measures the heap they hold
 * once `admitted` of them have opened their window, then waits for all.
 */
async function heapWhilePending (handler, requests, admitted) {
  const server = await listen(handler)
  try {
    const before = heapUsed()
    const counting = countSnapshots(admitted)
    const pending = Array.from({ length: requests }, () => request(server.port, { path: '/debug/handles?format=json&seconds=3' }))
    await counting.all
    counting.restore()
    const held = heapUsed() - before
    const statuses = (await Promise.all(pending)).map(answer => answer.status)
    return { held, statuses }
  } finally {
    await server.close()
  }
}

const count = (statuses, status) => statuses.filter(each => each === status).length

test('each pending ?seconds=N holds a compact snapshot, and all of them together stay bounded', async t => {
  crowdedMaps(1000)
  const before = heapUsed()
  let full = registry.snapshot()
  const fullBytes = heapUsed() - before
  const mapCount = full.maps.length
  full = null
  assert.ok(mapCount >= 1000)

  // Every request admitted: what each one holds while it waits.
  const admitted = await heapWhilePending(debugHandles({ maxDeltas: 20 }), 20, 20)
  assert.equal(count(admitted.statuses, 200), 20)
  const perRequest = admitted.held / 20
  t.diagnostic(`a full snapshot of ${mapCount} maps: ${(fullBytes / 1024).toFixed(0)} KiB of heap; one pending ?seconds=N holds ${(perRequest / 1024).toFixed(0)} KiB (${(100 * perRequest / fullBytes).toFixed(0)}%)`)
  // A full snapshot shares its stacks (one frozen array per stack, made once
  // per thread) and carries no caller rows, so it is lean too: the compact
  // one still holds well under it (about 55-60% here, with the request's own
  // objects).
  assert.ok(perRequest < fullBytes * 0.75, `a pending request holds ${perRequest} bytes, a full snapshot is ${fullBytes}`)

  // 100 at once against the default bound: 4 admitted, 96 refused at once.
  const flood = await heapWhilePending(debugHandles(), 100, 4)
  assert.equal(count(flood.statuses, 200), 4)
  assert.equal(count(flood.statuses, 429), 96)
  t.diagnostic(`100 concurrent ?seconds=3 with the default bound: ${(flood.held / 1024).toFixed(0)} KiB of heap held while they wait`)
  assert.ok(flood.held < 4 * fullBytes, `100 requests held ${flood.held} bytes; one full snapshot is ${fullBytes}`)
})

// ---- registry.report({ oldest }) -------------------------------------------

test('registry.report({ oldest }) reads each map\'s id once, and hands each map its own oldest entries', () => {
  const maps = []
  for (let m = 0; m < 300; m++) {
    const map = newMap({ name: `rh-oldest-${m}`, callSites: 'all' })
    map.set(`first-of-${m}`, m)
    map.set(`second-of-${m}`, m)
    maps.push(map)
  }
  maps[7].delete('first-of-7')
  const nativeLedger = internals.nativeLedger
  let reads = 0
  internals.nativeLedger = map => { reads++; return nativeLedger(map) }
  let report
  try {
    report = registry.report({ oldest: 2, includeKeys: true })
  } finally {
    internals.nativeLedger = nativeLedger
  }
  const live = report.maps.length
  assert.ok(reads <= 2 * live, `${reads} id reads for ${live} maps`)
  for (let m = 0; m < 300; m++) {
    const mine = report.maps.filter(map => map.name === `rh-oldest-${m}`)
    assert.equal(mine.length, 1)
    const expected = m === 7 ? ['second-of-7'] : [`first-of-${m}`, `second-of-${m}`]
    assert.deepEqual(mine[0].oldestEntries.map(entry => entry.key), expected, `rh-oldest-${m}`)
  }
})

// ---- control characters in file paths -------------------------------------

const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/ // everything but the message's own newlines

function scriptWithControlCharacters () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hl-\u001b[31m-dir-'))
  const file = path.join(dir, 'evil\u001b[2J\r\nFORGED: all clear\u0007\u009b.js')
  fs.writeFileSync(file, 'module.exports = function insertFromEvilPath (map, key) { map.set(key, key) }\n')
  return { dir, insert: require(file) }
}

test('a HandleLeakWarning about a script whose path holds control characters shows them as ?', async () => {
  const { dir, insert } = scriptWithControlCharacters()
  const map = newMap({ name: 'rh-warned', ttl: 30, strict: true, callSites: 'all' })
  const keepAlive = setInterval(() => {}, 1000) // the map's own timer is unref'd
  try {
    const warned = new Promise(resolve => {
      process.on('warning', function onWarning (warning) {
        if (warning.name === 'HandleLeakWarning' && warning.map === 'rh-warned') {
          process.off('warning', onWarning)
          resolve(warning)
        }
      })
    })
    insert(map, 'expiring')
    const warning = await warned
    assert.match(warning.message, /inserted at insertFromEvilPath \(.*evil\?\[2J\?\?FORGED: all clear\?\?\.js:1:\d+\) expired/)
    assert.doesNotMatch(warning.message, /[\u0000-\u001f\u007f-\u009f]/)
    assert.match(warning.site, /\u001b\[2J/, 'the site property keeps the real path')
  } finally {
    clearInterval(keepAlive)
    fs.rmSync(dir, { recursive: true })
  }
})

test('a leakCheck message about a script whose path holds control characters shows them as ?', async () => {
  const { dir, insert } = scriptWithControlCharacters()
  const map = newMap({ name: 'rh-leakcheck', callSites: 'all' })
  try {
    const error = await leakCheck(() => insert(map, 'left-behind'), { maps: [map], settleMs: 0, retries: 0 }).then(() => null, caught => caught)
    assert.ok(error instanceof HandleLeakError)
    assert.match(error.message, /rh-leakcheck: \+1 live at insertFromEvilPath \(.*evil\?\[2J\?\?FORGED: all clear\?\?\.js:1:\d+\)/)
    assert.doesNotMatch(error.message, CONTROL)
    for (const line of error.message.split('\n')) assert.doesNotMatch(line, /^FORGED/, 'no line forged by the path')
  } finally {
    fs.rmSync(dir, { recursive: true })
  }
})
