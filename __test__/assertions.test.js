'use strict'
// Dev-mode assertions: handleMap.assertEmpty(), leakCheck(fn, options)
// and strict mode's HandleLeakWarning (rate limited, HANDLE_LEDGER_STRICT).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const http = require('node:http')
const { spawn } = require('node:child_process')
const { setImmediate: tick, setTimeout: sleep } = require('node:timers/promises')
const { HandleMap, HandleLeakError, leakCheck } = require('..')

const ROOT = path.join(__dirname, '..')
const { markerLines, escapeRegExp } = require('./support/source.js')

const lineOf = markerLines(__filename)

/** `fn (this file:line:col)`, with the line of the `// @fn` marker. */
function siteRe (fn) {
  return new RegExp(`^${escapeRegExp(fn)} \\(${escapeRegExp(__filename)}:${lineOf(fn)}:\\d+\\)$`)
}

function openHandle (map, key) { map.set(key, { key }) } // @openHandle
function closeHandle (map, key) { map.delete(key) }
function leakyOpen (map, key) { map.set(key, { key }) } // @leakyOpen
function lateOpen (map, key) { map.set(key, { key }) } // @lateOpen
function expiringOpen (map, key) { map.set(key, { key }) } // @expiringOpen
function otherExpiringOpen (map, key) { map.set(key, { key }) } // @otherExpiringOpen

// ---- assertEmpty -----------------------------------------------------------

test('assertEmpty throws HandleLeakError with a report listing the live entries by site', () => {
  const map = new HandleMap({ name: 'assert.empty', strict: false })
  try {
    for (let i = 0; i < 3; i++) leakyOpen(map, 'l' + i)
    openHandle(map, 'o')
    closeHandle(map, 'o')
    let caught
    try {
      map.assertEmpty('after the suite')
    } catch (error) {
      caught = error
    }
    assert.ok(caught instanceof HandleLeakError, 'a HandleLeakError')
    assert.ok(caught instanceof Error)
    assert.equal(caught.name, 'HandleLeakError')
    assert.ok(caught.message.startsWith('after the suite: HandleMap "assert.empty" holds 3 entries'), caught.message)
    const file = path.relative(process.cwd(), __filename)
    assert.ok(caught.message.includes('3 live (3 in, 0 out)'), caught.message)
    assert.ok(caught.message.includes(`leakyOpen (${file}:${lineOf('leakyOpen')}:`), caught.message)
    assert.ok(caught.message.includes('inserted but never removed'))

    const report = caught.report
    assert.equal(report.name, 'assert.empty')
    assert.equal(report.live, 3)
    assert.match(report.sites[0].site, siteRe('leakyOpen'))
    assert.equal(report.sites[0].live, 3)
    assert.equal(report.sites[0].suspect, true)
    assert.equal(report.oldestEntries.length, 3)
    assert.ok(report.oldestEntries.every(entry => !('key' in entry)), 'no keys in the error report')
    assert.ok(!JSON.stringify(report).includes('"key"'))

    // Without a message.
    assert.throws(() => map.assertEmpty(), error => error instanceof HandleLeakError && error.message.startsWith('HandleMap "assert.empty" holds 3'))
    // Once the entries are gone it passes.
    for (let i = 0; i < 3; i++) closeHandle(map, 'l' + i)
    assert.equal(map.assertEmpty(), undefined)
  } finally {
    map.close()
  }
})

test('assertEmpty passes on an empty map', () => {
  const map = new HandleMap({ name: 'assert.empty.ok', strict: false })
  try {
    map.assertEmpty()
    map.assertEmpty('still empty')
    openHandle(map, 1)
    map.clear()
    map.assertEmpty()
  } finally {
    map.close()
  }
})

// ---- leakCheck -------------------------------------------------------------

test('leakCheck resolves for a clean async function', async () => {
  const pending = new HandleMap({ name: 'leakcheck.clean', strict: false })
  try {
    let next = 0
    async function handle () {
      const id = next++
      openHandle(pending, id)
      await tick()
      closeHandle(pending, id)
    }
    const difference = await leakCheck(handle, { iterations: 50, maps: [pending] })
    assert.equal(next, 50, 'fn ran `iterations` times')
    assert.equal(difference.kind, 'diff')
    const mine = difference.maps.find(m => m.name === 'leakcheck.clean')
    assert.deepEqual([mine.liveDelta, mine.insertsDelta, mine.removesDelta], [0, 50, 50])
  } finally {
    pending.close()
  }
})

test('leakCheck rejects for a leaking function, naming the site and its growth', async () => {
  const pending = new HandleMap({ name: 'leakcheck.leaky', strict: false })
  try {
    let next = 0
    async function handle (iteration) {
      assert.equal(iteration, next, 'fn gets the iteration number')
      const id = next++
      openHandle(pending, 'ok' + id)
      leakyOpen(pending, 'leak' + id)
      await tick()
      closeHandle(pending, 'ok' + id)
    }
    await assert.rejects(leakCheck(handle, { iterations: 20, settleMs: 20 }), error => {
      assert.ok(error instanceof HandleLeakError, String(error))
      const expected = `leakcheck.leaky: +20 live at leakyOpen (${__filename}:${lineOf('leakyOpen')}:`
      assert.ok(error.message.includes(expected), error.message)
      const summary = error.message.split('\n')[0]
      assert.ok(!summary.includes('openHandle ('), `the clean site is not blamed: ${summary}`)
      assert.equal(error.report.kind, 'diff')
      assert.deepEqual(error.report.maps.map(m => m.name), ['leakcheck.leaky'], 'only leaking maps are listed')
      const [map] = error.report.maps
      assert.equal(map.liveDelta, 20)
      assert.match(map.sites[0].site, siteRe('leakyOpen'))
      assert.equal(map.sites[0].liveDelta, 20)
      return true
    })
  } finally {
    pending.close()
  }
})

test('leakCheck only looks at the maps it is given', async () => {
  const watched = new HandleMap({ name: 'leakcheck.watched', strict: false })
  const other = new HandleMap({ name: 'leakcheck.other', strict: false })
  try {
    let next = 0
    const fn = () => { leakyOpen(other, next++) }
    await leakCheck(fn, { iterations: 3, maps: ['leakcheck.watched'], settleMs: 0 })
    await leakCheck(fn, { iterations: 3, maps: [watched], settleMs: 0 })
    await assert.rejects(leakCheck(fn, { iterations: 3, maps: [other], settleMs: 0 }), HandleLeakError)
    await assert.rejects(leakCheck(fn, { iterations: 3, settleMs: 0 }), HandleLeakError, 'all maps by default')
    await assert.rejects(leakCheck(fn, { iteration: 3 }), TypeError)
    await assert.rejects(leakCheck(fn, { iterations: 0 }), RangeError)
    await assert.rejects(leakCheck('not a function'), TypeError)
  } finally {
    watched.close()
    other.close()
  }
})

test('leakCheck in sampled mode: balanced traffic on a map with older entries is not a leak', async () => {
  const map = new HandleMap({ name: 'leakcheck.sampled', callSites: 'sampled', sampleRate: 16, strict: false })
  try {
    for (let i = 0; i < 200; i++) leakyOpen(map, 'old' + i)
    let next = 0
    const fn = () => {
      for (let i = 0; i < 50; i++) {
        const key = next++
        leakyOpen(map, key)
        closeHandle(map, key)
      }
    }
    // Site figures are scaled from samples and drift; the exact map figure decides.
    for (let round = 0; round < 5; round++) await leakCheck(fn, { iterations: 20, maps: [map], settleMs: 0 })
    // A real leak still fails.
    await assert.rejects(leakCheck(() => leakyOpen(map, 'new' + next++), { iterations: 30, maps: [map], settleMs: 0 }), error => {
      assert.ok(error instanceof HandleLeakError)
      assert.ok(error.message.includes('leakcheck.sampled: '), error.message)
      assert.equal(error.report.maps[0].liveDelta, 30)
      return true
    })
  } finally {
    map.close()
  }
})

test('leakCheck waits settleMs with retries, so cleanup that runs a little later passes', async () => {
  const pending = new HandleMap({ name: 'leakcheck.late', strict: false })
  const timers = []
  try {
    let next = 0
    function handle () {
      const id = next++
      lateOpen(pending, id)
      // The cleanup lands after fn resolved (as a socket close would).
      timers.push(sleep(20).then(() => closeHandle(pending, id)))
    }
    // No settling: the entries are still there when leakCheck looks.
    await assert.rejects(leakCheck(handle, { iterations: 5, settleMs: 0, retries: 0 }), error => {
      assert.ok(error instanceof HandleLeakError)
      assert.ok(error.message.includes(`leakcheck.late: +5 live at lateOpen (${__filename}:${lineOf('lateOpen')}:`), error.message)
      return true
    })
    await Promise.all(timers)
    assert.equal(pending.size, 0)
    // With a settling budget the late cleanup is seen and the check passes.
    const difference = await leakCheck(handle, { iterations: 5, settleMs: 2000 })
    assert.equal(difference.maps.find(m => m.name === 'leakcheck.late').liveDelta, 0)
    assert.equal(pending.size, 0)
  } finally {
    await Promise.all(timers)
    pending.close()
  }
})

// The seed's reproduction: "call /status 2500 times, memory must come back".
// /status asks a backend (callService); the reply handler removes the pending
// call, except on a degraded reply, where it returns early and forgets it.
function startStatusServer ({ fixed }) {
  // 'all': the check below quotes exact per-site figures; at the default
  // 'auto', 2,500 captures in a few seconds may exceed the budget and the
  // figures become estimates ('~+500').
  const pendingCalls = new HandleMap({ name: fixed ? 'status.pendingCalls.fixed' : 'status.pendingCalls', callSites: 'all', strict: false })
  let nextCall = 0
  function callService (reply) {
    const id = ++nextCall
    pendingCalls.set(id, { reply, startedAt: Date.now() }) // @callService
    const degraded = id % 5 === 0
    setImmediate(() => onServiceReply(id, { ok: !degraded, degraded }))
  }
  function onServiceReply (id, body) {
    const call = pendingCalls.get(id)
    if (body.degraded && !fixed) {
      call.reply(body)
      return // the bug: the pending call is never removed
    }
    pendingCalls.delete(id)
    call.reply(body)
  }
  const server = http.createServer((req, res) => {
    if (req.url !== '/status') {
      res.writeHead(404).end()
      return
    }
    callService(body => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    })
  })
  return new Promise(resolve => {
    server.listen(0, '127.0.0.1', () => resolve({ server, pendingCalls, url: `http://127.0.0.1:${server.address().port}/status` }))
  })
}

function getStatus (agent, url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
      res.on('error', reject)
    }).on('error', reject)
  })
}

test('the seed scenario in one call: 2500 /status requests must give their handles back', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const leaky = await startStatusServer({ fixed: false })
  const fixed = await startStatusServer({ fixed: true })
  try {
    await assert.rejects(
      leakCheck(() => getStatus(agent, leaky.url), { iterations: 2500, maps: [leaky.pendingCalls] }),
      error => {
        assert.ok(error instanceof HandleLeakError)
        const expected = `status.pendingCalls: +500 live at callService (${__filename}:${lineOf('callService')}:`
        assert.ok(error.message.includes(expected), error.message)
        assert.equal(error.report.maps[0].liveDelta, 500)
        return true
      }
    )
    assert.equal(leaky.pendingCalls.size, 500)
    // The fixed handler gives everything back (fewer rounds: the point is made).
    await leakCheck(() => getStatus(agent, fixed.url), { iterations: 500, maps: [fixed.pendingCalls] })
    assert.equal(fixed.pendingCalls.size, 0)
  } finally {
    agent.destroy()
    for (const { server, pendingCalls } of [leaky, fixed]) {
      pendingCalls.close()
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  }
})

// ---- strict mode -------------------------------------------------------------

function collectLeakWarnings (mapName) {
  const warnings = []
  const listener = warning => {
    if (warning.name === 'HandleLeakWarning' && warning.map === mapName) warnings.push(warning)
  }
  process.on('warning', listener)
  return { warnings, stop: () => process.off('warning', listener) }
}

test('strict mode: one HandleLeakWarning per site per minute, however many entries expire', async t => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 })
  let now = 0
  // 'all': every expired entry names its site (unrecorded ones would warn as a site of their own).
  const map = new HandleMap({ name: 'strict.warnings', ttl: 100, clock: () => now, callSites: 'all', strict: true })
  const { warnings, stop } = collectLeakWarnings('strict.warnings')
  // One caller of expiringOpen throughout.
  const openMany = (prefix, count) => { for (let i = 0; i < count; i++) expiringOpen(map, prefix + i) }
  try {
    openMany('a', 500)
    for (let i = 0; i < 300; i++) otherExpiringOpen(map, 'b' + i)
    now = 250
    assert.equal(map.purgeExpired(), 800)
    await tick()
    assert.equal(warnings.length, 2, 'one warning per site, not 800')
    const bySite = new Map(warnings.map(w => [w.site, w]))
    const a = [...bySite.values()].find(w => siteRe('expiringOpen').test(w.site))
    const b = [...bySite.values()].find(w => siteRe('otherExpiringOpen').test(w.site))
    assert.ok(a && b, warnings.map(w => w.site).join(', '))
    assert.equal(a.ageMs, 250)
    assert.ok(a.message.includes('"strict.warnings"'), a.message)
    assert.ok(a.message.includes(a.site), 'the message names the site')
    assert.match(a.message, /\b(0\.3 ?s|250 ?ms)\b/, 'the message gives the age')

    // More expiries within the minute: silence.
    for (let round = 0; round < 5; round++) {
      openMany(`r${round}/`, 100)
      now += 200
      assert.equal(map.purgeExpired(), 100)
      t.mock.timers.tick(10_000) // 50 s in all
    }
    await tick()
    assert.equal(warnings.length, 2, 'muted for a minute')

    // A minute after the first warning, the site may warn again (once).
    t.mock.timers.tick(11_000)
    openMany('late', 100)
    now += 200
    assert.equal(map.purgeExpired(), 100)
    await tick()
    assert.equal(warnings.length, 3)
    assert.match(warnings[2].site, siteRe('expiringOpen'))
  } finally {
    stop()
    map.close()
  }
})

test('strict: false emits no HandleLeakWarning', async () => {
  let now = 0
  const map = new HandleMap({ name: 'strict.off', ttl: 100, clock: () => now, strict: false })
  const { warnings, stop } = collectLeakWarnings('strict.off')
  let expired = 0
  const seen = new HandleMap({ name: 'strict.off.onExpire', ttl: 100, clock: () => now, strict: false, onExpire: () => { expired++ } })
  try {
    for (let i = 0; i < 50; i++) expiringOpen(map, i)
    for (let i = 0; i < 5; i++) expiringOpen(seen, i)
    now = 500
    assert.equal(map.purgeExpired(), 50)
    assert.equal(seen.purgeExpired(), 5)
    await tick()
    await sleep(5)
    assert.equal(warnings.length, 0)
    assert.equal(expired, 5, 'onExpire still runs')
  } finally {
    stop()
    map.close()
    seen.close()
  }
})

// Runs a child process with `env` and reports how many HandleLeakWarnings one
// expired entry produced there.
function warningsInChild (env, option) {
  const script = `
    const { HandleMap } = require(${JSON.stringify(ROOT)})
    let warnings = 0
    process.on('warning', w => { if (w.name === 'HandleLeakWarning') warnings++ })
    let now = 0
    const map = new HandleMap({ name: 'child', ttl: 10, clock: () => now${option === undefined ? '' : `, strict: ${option}`} })
    map.set('k', 1)
    now = 20
    map.purgeExpired()
    setImmediate(() => { map.close(); process.stdout.write(JSON.stringify({ warnings })) })
  `
  const childEnv = { ...process.env }
  for (const name of ['NODE_ENV', 'HANDLE_LEDGER_STRICT', 'HANDLE_LEDGER_CALLSITES', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS']) delete childEnv[name]
  Object.assign(childEnv, env)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', chunk => { out += chunk })
    child.stderr.on('data', chunk => { err += chunk })
    child.on('error', reject)
    child.on('close', code => {
      if (code !== 0) reject(new Error(`child exited with ${code}: ${err}`))
      else resolve(JSON.parse(out).warnings)
    })
  })
}

test('strict defaults: on unless NODE_ENV=production; HANDLE_LEDGER_STRICT=0|1 overrides; the option wins', async () => {
  const cases = [
    [{}, undefined, 1],
    [{ NODE_ENV: 'development' }, undefined, 1],
    [{ NODE_ENV: 'production' }, undefined, 0],
    [{ NODE_ENV: 'production', HANDLE_LEDGER_STRICT: '1' }, undefined, 1],
    [{ HANDLE_LEDGER_STRICT: '0' }, undefined, 0],
    [{ HANDLE_LEDGER_STRICT: '1' }, false, 0],
    [{ HANDLE_LEDGER_STRICT: '0' }, true, 1]
  ]
  for (const [env, option, expected] of cases) {
    assert.equal(await warningsInChild(env, option), expected, `env ${JSON.stringify(env)}, strict option ${option}`)
  }
})
