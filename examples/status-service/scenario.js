'use strict'
// The demo's scenario, usable from the demo and from a test: run the system
// several ways (clean, regression, regression + short TTL, and the fixed
// variant with hold() and the regression on), each in its own
// child process, load each with the story's /status requests, sample live
// handles and RSS against requests sent, then judge the outcome.

const path = require('node:path')
const fs = require('node:fs')
const { fork } = require('node:child_process')
const autocannon = require('autocannon')

const CORE_FILE = path.join(__dirname, 'core.js')
const CHILD_FILE = path.join(__dirname, 'run-child.js')
const SERVICES_FILE = path.join(__dirname, 'services.js')
const REPO_ROOT = path.resolve(__dirname, '..', '..')
const MESSAGE_TIMEOUT_MS = 30_000
const MIN_IDLE_MS = 500
// The partial run's safety net, in short TTLs: calls take a few ms, so 4x the
// short TTL (1 s in the demo) is generous, and the contexts the failed calls
// leave behind expire during the run.
const PARTIAL_TTL_FACTOR = 4

const RUN_PLANS = [
  { name: 'clean', title: 'clean: cleanup in place', regression: false, shortTtl: false },
  { name: 'regression', title: 'regression: cleanup lost', regression: true, shortTtl: false },
  { name: 'regression+ttl', title: 'regression + short TTL', regression: true, shortTtl: true },
  { name: 'held', title: 'fixed with hold(): regression on, no delete to lose', regression: true, shortTtl: false, held: true },
  { name: 'partial', title: 'partial: cleanup lost on failed calls only (~5%)', regression: 'partial', shortTtl: false, ttlFactor: PARTIAL_TTL_FACTOR }
]

/**
 * Where core.js calls `handleMap.set(` (read from its text, so an edit of
 * core.js moves the expectation with it): `{ file, line, text }`.
 */
function findInsertSite (file = CORE_FILE) {
  const found = findCall(file, /\bhandleMap\.set\(/)
  if (found.length !== 1) throw new Error(`expected one handleMap.set( call in ${file}, found ${found.length}`)
  return found[0]
}

/** Where core.js calls `handleMap.hold(`: the fixed variant's insert, and its removal. */
function findHoldSite (file = CORE_FILE) {
  const found = findCall(file, /\bhandleMap\.hold\(/)
  if (found.length !== 1) throw new Error(`expected one handleMap.hold( call in ${file}, found ${found.length}`)
  return found[0]
}

/**
 * The calls in the body of core.js's held variant (`callServiceHeld`) that
 * remove an entry by hand: none, so there is no line for a regression to lose.
 */
function removesInHeldVariant (file = CORE_FILE) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const start = lines.findIndex((text) => /^\s*async function callServiceHeld\b/.test(text))
  if (start === -1) throw new Error(`no callServiceHeld in ${file}`)
  const indent = /^\s*/.exec(lines[start])[0]
  const end = lines.findIndex((text, index) => index > start && text === `${indent}}`)
  return lines.slice(start, end + 1).map((text) => text.replace(/\/\/.*$/, '')).filter((code) => /\bhandleMap\.(delete|clear)\(/.test(code))
}

/** Where core.js calls `handleMap.delete(`: the cleanup the regression skips. */
function findRemoveSite (file = CORE_FILE) {
  return findCall(file, /\bhandleMap\.delete\(/)[0] || null
}

function findCall (file, pattern) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const found = []
  lines.forEach((text, index) => {
    const code = text.replace(/\/\/.*$/, '')
    const match = pattern.exec(code)
    if (match) found.push({ file, line: index + 1, text: text.trim() })
  })
  return found
}

// A report names a site `fn (file:line:col)`; the line is what must match
// (the column is V8's choice of where a call starts).
function isAtLine (siteTextOfReport, site) {
  return siteTextOfReport.includes(`(${site.file}:${site.line}:`)
}

/** Site text with the repository's path removed, for printing. */
function shortSite (text) {
  return String(text).split(REPO_ROOT + path.sep).join('')
}

// ---- one run ----------------------------------------------------------------

// The monitored services run in a process of their own, shared by the runs:
// they are the network the core calls, and their CPU and RSS are not the core's.
async function startServicesProcess () {
  const child = fork(SERVICES_FILE, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  try {
    const { services } = await nextMessage(child, 'ready')
    return { services, stop: () => stopChild(child) }
  } catch (error) {
    await stopChild(child)
    throw error
  }
}

function stopChild (child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill()
  return exited
}

function startChild (plan, shortTtlMs, services) {
  const regression = plan.regression === 'partial' ? 'partial' : plan.regression ? '1' : '0'
  const env = { ...process.env, STATUS_REGRESSION: regression, STATUS_HELD: plan.held ? '1' : '0', STATUS_SERVICES: JSON.stringify(services) }
  delete env.STATUS_TTL_MS
  if (plan.shortTtl) env.STATUS_TTL_MS = String(shortTtlMs)
  if (plan.ttlFactor) env.STATUS_TTL_MS = String(plan.ttlFactor * shortTtlMs)
  // The report must show every call site, as in development.
  delete env.NODE_ENV
  delete env.HANDLE_LEDGER_CALLSITES
  return fork(CHILD_FILE, [], { env, execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
}

// Resolves with the next IPC message of `type`; rejects if the child dies first.
function nextMessage (child, type) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no '${type}' message from the ${child.pid} run within ${MESSAGE_TIMEOUT_MS} ms`)), MESSAGE_TIMEOUT_MS)
    function onMessage (message) {
      if (message && message.type === type) done(null, message)
    }
    function onExit (code, signal) {
      done(new Error(`run process ${child.pid} exited (${signal || code}) before sending '${type}'`))
    }
    function done (error, message) {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (error) reject(error)
      else resolve(message)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

// Samples are asked for while the load runs, several at a time: one listener
// answers them all by their `sent`, and the child's death fails them all.
function createSampler (child) {
  const waiting = new Map()
  child.on('message', (message) => {
    if (message.type !== 'sample' || !waiting.has(message.sent)) return
    const { resolve } = waiting.get(message.sent)
    waiting.delete(message.sent)
    resolve({ sent: message.sent, live: message.live, rss: message.rss })
  })
  child.once('exit', (code, signal) => {
    for (const { reject } of waiting.values()) reject(new Error(`run process ${child.pid} exited (${signal || code}) while sampling`))
    waiting.clear()
  })
  return function takeSample (sent) {
    return new Promise((resolve, reject) => {
      waiting.set(sent, { resolve, reject })
      child.send({ type: 'sample', sent })
    })
  }
}

// The story's `curl .../status?test=[1-2500]`, with a bounded concurrency.
// Live handles and RSS are sampled every `step` answered requests.
async function sendLoad (takeSample, url, { requests, connections, step }) {
  const pending = []
  let sent = 0
  let answered = 0
  const instance = autocannon({
    url: `${url}/status`,
    connections: Math.min(connections, requests),
    amount: requests,
    requests: [{ setupRequest: (request) => ({ ...request, path: `/status?test=${++sent}` }) }]
  })
  instance.on('response', () => {
    answered++
    if (answered % step === 0 || answered === requests) pending.push(takeSample(answered))
  })
  const result = await instance
  const samples = await Promise.all(pending)
  return { samples, result }
}

function wait (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// "Once the script completed, we tried the API again when the system wasn't under load."
async function sendIdleRequest (url, requests) {
  const response = await fetch(`${url}/status?test=${requests + 1}`)
  await response.arrayBuffer()
  return response.status
}

// /debug/handles must answer on the app: the report an engineer would curl.
const MAX_DEBUG_TEXT = 4000

async function probeDebugHandles (url) {
  const response = await fetch(`${url}/debug/handles?format=text`)
  const body = await response.text()
  return { status: response.status, type: response.headers.get('content-type'), bytes: body.length, text: body.slice(0, MAX_DEBUG_TEXT) }
}

async function runOnce (plan, options, services) {
  const child = startChild(plan, options.shortTtlMs, services)
  try {
    const ready = await nextMessage(child, 'ready')
    const takeSample = createSampler(child)
    const first = await takeSample(0)
    const startedAt = Date.now()
    const load = await sendLoad(takeSample, ready.url, options)
    const loadMs = Date.now() - startedAt
    const idleMs = Math.max(MIN_IDLE_MS, plan.shortTtl ? 2 * options.shortTtlMs + 100 : 0)
    await wait(idleMs)
    const idleStatus = await sendIdleRequest(ready.url, options.requests)
    const debugHandles = await probeDebugHandles(ready.url)
    const exited = new Promise((resolve) => child.once('exit', resolve))
    const finished = nextMessage(child, 'result')
    child.send({ type: 'finish' })
    const result = await finished
    await exited
    return describeRun(plan, ready, { first, load, loadMs, idleMs, idleStatus, debugHandles, result }, options)
  } finally {
    await stopChild(child)
  }
}

function describeRun (plan, ready, observed, options) {
  const { first, load, loadMs, idleMs, idleStatus, debugHandles, result } = observed
  const map = result.report.maps.find((candidate) => candidate.name === 'core.handleMap')
  if (map === undefined) throw new Error(`the ${plan.name} run reported no core.handleMap`)
  const last = { sent: options.requests + 1, live: map.live, rss: result.rss }
  const samples = [first, ...load.samples.sort((a, b) => a.sent - b.sent), last]
  return {
    ...plan,
    ttlMs: ready.ttl,
    services: ready.services,
    samples,
    peakLive: Math.max(...samples.map((s) => s.live)),
    map,
    load: {
      requests: options.requests,
      connections: options.connections,
      ms: loadMs,
      ok: load.result['2xx'],
      non2xx: load.result.non2xx,
      errors: load.result.errors + load.result.timeouts
    },
    idleMs,
    idleStatus,
    debugHandles,
    retainedAfterGc: result.retained,
    expiryLog: result.log,
    expiredLogged: result.expiredLogged
  }
}

// ---- verdicts ---------------------------------------------------------------

function siteAt (run, site) {
  return run.map.sites.find((candidate) => isAtLine(candidate.site, site)) || null
}

function judge (runs, insertSite) {
  const [clean, regression, ttl] = runs
  const partial = runs.find((run) => run.name === 'partial')
  const line = `core.js:${insertSite.line}`
  const leak = siteAt(regression, insertSite)
  const ttlLeak = siteAt(ttl, insertSite)
  const partialLeak = partial ? siteAt(partial, insertSite) : null
  const cleanSuspects = clean.map.sites.filter((site) => site.suspect)
  const expectedInserts = (regression.load.requests + 1) * regression.services
  const checks = [
    {
      name: `the regression run's suspect site is ${line}, the line that inserts without removing`,
      pass: leak !== null && leak.suspect && leak.removes === 0 && leak.inserts === expectedInserts && regression.map.live === expectedInserts,
      detail: leak === null ? `no site at ${line} in the report` : `${shortSite(leak.site)}: ${leak.inserts} inserts, ${leak.removes} removes, ${leak.live} live, suspect ${leak.suspect}`
    },
    {
      name: 'the clean run ends with 0 live handles',
      pass: clean.map.live === 0 && clean.map.inserts === clean.map.removes && clean.map.inserts > 0,
      detail: `${clean.map.live} live, ${clean.map.inserts} inserts, ${clean.map.removes} removes`
    },
    {
      name: 'with the short TTL the leaked contexts expire and live handles stay bounded',
      pass: ttl.map.expired > 0 && ttlLeak !== null && ttlLeak.suspect && ttl.map.live <= ttl.services && ttl.peakLive < regression.map.live && ttl.expiredLogged === ttl.map.expired,
      detail: `${ttl.map.expired} expired (onExpire saw ${ttl.expiredLogged}), peak ${ttl.peakLive} live vs ${regression.map.live} without the TTL, ${ttl.map.live} live at the end`
    },
    {
      name: `the partial run's cleanup lost on failed calls only is suspect at ${line}`,
      pass: partialLeak !== null && partialLeak.suspect && partialLeak.removes > 0 && partialLeak.expired > 0 && /expire instead of being removed/.test(partialLeak.reason),
      detail: partialLeak === null ? `no site at ${line} in the report` : `${partialLeak.inserts} inserts, ${partialLeak.removes} removes, ${partialLeak.expired} expired: ${partialLeak.reason}`
    },
    {
      name: 'the clean run shows no suspect',
      pass: cleanSuspects.length === 0,
      detail: cleanSuspects.length === 0 ? 'no suspect site' : cleanSuspects.map((site) => `${shortSite(site.site)}: ${site.reason}`).join('; ')
    }
  ]
  const held = runs.find((run) => run.name === 'held')
  if (held !== undefined) checks.push(judgeHeld(held))
  return checks
}

// The fixed variant runs with the regression on: it has no delete line to
// lose, and ends like the clean run, its site held and never suspect.
function judgeHeld (held) {
  const holdSite = findHoldSite()
  const site = siteAt(held, holdSite)
  const removes = removesInHeldVariant()
  const expectedInserts = (held.load.requests + 1) * held.services
  return {
    name: `with hold() (core.js:${holdSite.line}) the regression has no line to lose: 0 live handles with it on`,
    pass: removes.length === 0 && held.regression && held.map.live === 0 && site !== null && site.held && !site.suspect &&
      site.inserts === expectedInserts && site.removes === expectedInserts && held.map.sites.every((candidate) => !candidate.suspect),
    detail: `${removes.length} delete/clear calls in callServiceHeld; ${held.map.live} live; ` +
      (site === null ? `no site at core.js:${holdSite.line}` : `${shortSite(site.site)}: ${site.inserts} in, ${site.removes} out, held ${site.held}, suspect ${site.suspect}`)
  }
}

/**
 * Runs the runs one after another and judges them.
 * Options: requests (2500), connections (16), shortTtlMs (250), samples per run (25).
 */
async function runScenario ({ requests = 2500, connections = 16, shortTtlMs = 250, samples = 25, onRun = () => {} } = {}) {
  const insertSite = findInsertSite()
  const options = { requests, connections, shortTtlMs, step: Math.max(1, Math.ceil(requests / samples)) }
  const startedAt = Date.now()
  const runs = []
  const monitored = await startServicesProcess()
  try {
    for (const plan of RUN_PLANS) {
      const run = await runOnce(plan, options, monitored.services)
      runs.push(run)
      onRun(run, runs.length, RUN_PLANS.length)
    }
  } finally {
    await monitored.stop()
  }
  const checks = judge(runs, insertSite)
  return {
    requests,
    connections,
    shortTtlMs,
    insertSite,
    removeSite: findRemoveSite(),
    holdSite: findHoldSite(),
    runs,
    checks,
    ok: checks.every((check) => check.pass),
    ms: Date.now() - startedAt
  }
}

module.exports = { runScenario, judge, findInsertSite, findRemoveSite, findHoldSite, removesInHeldVariant, siteAt, shortSite, RUN_PLANS, CORE_FILE, REPO_ROOT }
