'use strict'
// npm run demo: reproduce the status-API leak of the seed story and catch it.
// Runs the system clean, with the regression, with the regression plus a
// short TTL, and with the cleanup lost on failed calls only; prints what an engineer needs per run; writes demo-report.html;
// exits 0 only when the leak was caught at core.js's insert line and the
// clean run ended with no live handles.

const fs = require('node:fs')
const path = require('node:path')
const { runScenario, findInsertSite, findRemoveSite, findHoldSite, siteAt, shortSite, REPO_ROOT } = require('./scenario.js')
const { renderReport } = require('./html-report.js')

const REQUESTS = 2500 // the story's curl .../status?test=[1-2500]
const CONNECTIONS = 16
const SHORT_TTL_MS = 250
const REPORT_FILE = path.join(REPO_ROOT, 'demo-report.html')
const MAX_EXPIRY_LINES = 8

const number = (n) => Number(n).toLocaleString('en-US')
const megabytes = (bytes) => `${Math.round(bytes / 1048576)} MB`
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`
const say = (label, text) => console.log(`  ${label.padEnd(10)} ${text}`)

function printHeader (insertSite, removeSite, holdSite) {
  console.log('handle-ledger demo: the status-API leak of the seed story')
  console.log('  system: Express /status -> core -> 3 monitored services over HTTP on 127.0.0.1')
  console.log('          each run (app + core) in its own process, the services in another')
  console.log(`  load:   ${number(REQUESTS)} x GET /status?test=N per run (autocannon, ${CONNECTIONS} connections), then 1 more when idle`)
  console.log(`  core.js:${insertSite.line}  ${insertSite.text}    <- inserts each call's context`)
  if (removeSite) console.log(`  core.js:${removeSite.line}  ${removeSite.text}`)
  console.log(`  core.js:${holdSite.line}  ${holdSite.text}`)
  console.log('          <- the fixed variant: hold() removes the context when the call settles; no delete line to lose')
}

function printLoad (run) {
  const rate = Math.round(run.load.requests / (run.load.ms / 1000))
  const failed = run.load.non2xx + run.load.errors
  say('load', `${number(run.load.requests)} requests in ${seconds(run.load.ms)} (${rate} req/s), ${failed === 0 ? 'all 200' : `${failed} failed`}; idle request after ${seconds(run.idleMs)}: ${run.idleStatus}`)
}

function printLedger (run) {
  const map = run.map
  const oldest = map.live > 0 && map.oldestAgeMs !== null ? `, oldest ${seconds(map.oldestAgeMs)}` : ''
  say('live', `${number(map.live)} handles in core.handleMap (peak ${number(run.peakLive)} while loaded${oldest})`)
  say('ledger', `${number(map.inserts)} inserts = ${number(map.removes)} removes + ${number(map.expired)} expired + ${number(map.live)} live`)
}

// The stack frames of our own code below the insert: how the request got there.
function callPath (site) {
  return site.stack.slice(1)
    .filter((frame) => frame.includes(REPO_ROOT) && !frame.includes('node_modules'))
    .slice(0, 2)
    .map(shortSite)
    .join(' <- ')
}

function printSite (run, insertSite) {
  const site = siteAt(run, insertSite)
  if (site === null) {
    say('site', `nothing reported at core.js:${insertSite.line}`)
    return
  }
  const counts = `${number(site.inserts)} in / ${number(site.removes)} out / ${number(site.expired)} expired / ${number(site.live)} live`
  say(site.suspect ? 'SUSPECT' : 'site', `${shortSite(site.site)}  ${counts}${site.held ? '  (held: never suspect)' : ''}`)
  if (site.suspect) {
    say('', `reason: ${site.reason}`)
    say('', `called from ${callPath(site)}`)
    say('', `core.js:${insertSite.line} | ${insertSite.text}`)
  }
  for (const removed of site.removedAt) say('', `removed at ${shortSite(removed.site)}  ${removed.estimated ? '~' : ''}${number(removed.count)}`)
}

function printExpiryLog (run) {
  if (run.expiryLog.length === 0) return
  say('onExpire', `${run.expiryLog.length} log lines for ${number(run.expiredLogged)} expired contexts:`)
  for (const line of run.expiryLog.slice(0, MAX_EXPIRY_LINES)) say('', shortSite(line))
  if (run.expiryLog.length > MAX_EXPIRY_LINES) say('', `... ${run.expiryLog.length - MAX_EXPIRY_LINES} more`)
}

function printMemory (run) {
  const rss = run.samples.map((s) => s.rss)
  const last = rss[rss.length - 1]
  say('memory', `RSS ${megabytes(rss[0])} at start -> ${megabytes(last)} after the idle request (peak ${megabytes(Math.max(...rss))}); heap + buffers after GC ${megabytes(run.retainedAfterGc)}`)
}

function printRun (run, index, total, insertSite, holdSite) {
  console.log('')
  console.log(`[${index}/${total}] ${run.title} (regression ${run.regression === 'partial' ? 'on failed calls only' : run.regression ? 'ON' : 'off'}, ttl ${number(run.ttlMs)} ms)`)
  printLoad(run)
  printLedger(run)
  printSite(run, run.held ? holdSite : insertSite)
  printExpiryLog(run)
  printMemory(run)
  say('debug', `GET /debug/handles?format=text -> ${run.debugHandles.status}, ${number(run.debugHandles.bytes)} bytes`)
}

// What the app serves on /debug/handles (formatReport's text) for the leaking run.
function printDebugHandles (outcome) {
  for (const name of ['regression', 'partial']) {
    const leaking = outcome.runs.find((run) => run.name === name)
    if (leaking === undefined) continue
    console.log('')
    console.log(`GET /debug/handles?format=text on the ${name} run, after the idle request (${leaking.debugHandles.status}):`)
    for (const line of shortSite(leaking.debugHandles.text).trimEnd().split('\n')) console.log(`  ${line}`)
  }
}

function printChecks (checks) {
  console.log('')
  console.log('checks')
  for (const check of checks) console.log(`  ${check.pass ? 'PASS' : 'FAIL'}  ${check.name} (${check.detail})`)
}

async function main () {
  const startedAt = Date.now()
  const insertSite = findInsertSite()
  const holdSite = findHoldSite()
  printHeader(insertSite, findRemoveSite(), holdSite)
  const outcome = await runScenario({
    requests: REQUESTS,
    connections: CONNECTIONS,
    shortTtlMs: SHORT_TTL_MS,
    onRun: (run, index, total) => printRun(run, index, total, insertSite, holdSite)
  })
  printDebugHandles(outcome)
  printChecks(outcome.checks)
  fs.writeFileSync(REPORT_FILE, renderReport(outcome))
  console.log('')
  console.log(`report: ${path.relative(process.cwd(), REPORT_FILE) || REPORT_FILE} (the runs side by side, chart of live handles and RSS, site tables)`)
  console.log(`${outcome.ok ? 'caught' : 'NOT caught'} in ${seconds(Date.now() - startedAt)}: exit ${outcome.ok ? 0 : 1}`)
  process.exitCode = outcome.ok ? 0 : 1
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
