'use strict'
// The core of the story: asks every monitored service for its health over
// the network and keeps each in-flight call's context in `core.handleMap`
// until the call returns.
//
// The regression of the story (a refactor lost the cleanup) is the ONE line
// marked below: with `regression` on, contexts are inserted and never removed.
// With `regression: 'partial'` the cleanup is lost only when a service call
// fails (the refactor kept it on the success path): a few percent of calls,
// the usual shape of a leak in real code. Those runs ask the services to fail
// FAIL_SHARE of their checks.
// The fixed variant (`held`) puts each context in the map with hold(), which
// removes it when the call settles: it has no delete line, so the regression
// has no line to lose there, and `regression` changes nothing.

const http = require('node:http')
const { HandleMap } = require('../../')

// Long enough never to cut a live call short; the safety net of production.
const DEFAULT_TTL_MS = 60_000
const CALL_TIMEOUT_MS = 2_000
const EXPIRY_SUMMARY_MS = 1_000
const FAIL_SHARE = 0.05

/**
 * true with --regression or STATUS_REGRESSION=1; 'partial' with
 * --partial-regression or STATUS_REGRESSION=partial; else false.
 */
function regressionRequested (argv = process.argv, env = process.env) {
  if (argv.includes('--partial-regression') || env.STATUS_REGRESSION === 'partial') return 'partial'
  return argv.includes('--regression') || env.STATUS_REGRESSION === '1'
}

/** True when the process was started with --held or STATUS_HELD=1: the fixed variant. */
function heldRequested (argv = process.argv, env = process.env) {
  return argv.includes('--held') || env.STATUS_HELD === '1'
}

function createCore ({ services, regression = false, held = false, ttl = DEFAULT_TTL_MS, log = console.log }) {
  const expiryLog = createExpiryLog(log)
  const handleMap = new HandleMap({
    name: 'core.handleMap',
    ttl,
    onExpire: expiryLog.record,
    // onExpire below is this service's leak log; strict mode would say it twice.
    strict: false
  })
  // Keep-alive: the story's core holds long-lived connections to its services.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  let lastCallId = 0

  async function callService (service) {
    const id = ++lastCallId
    const context = { id, service: service.name, url: service.url, startedAt: Date.now(), chunks: [] }
    handleMap.set(id, context)
    try {
      context.statusCode = await requestHealth(agent, urlOf(service), context.chunks)
      return summarize(context, context.statusCode)
    } catch (error) {
      return { service: service.name, status: 'down', error: error.message, ms: Date.now() - context.startedAt }
    } finally {
      if (cleanupKept(context)) handleMap.delete(id) // the cleanup the refactor lost
    }
  }

  function cleanupKept (context) {
    if (regression === 'partial') return context.statusCode === 200
    return !regression
  }

  function urlOf (service) {
    return regression === 'partial' ? `${service.url}?failShare=${FAIL_SHARE}` : service.url
  }

  // The fixed variant: the context is in the map exactly while the call runs.
  // Nothing here removes it, so there is no cleanup for a refactor to lose.
  async function callServiceHeld (service) {
    const id = ++lastCallId
    const context = { id, service: service.name, url: service.url, startedAt: Date.now(), chunks: [] }
    try {
      return await handleMap.hold(id, context, async (held) => summarize(held, await requestHealth(agent, service.url, held.chunks)))
    } catch (error) {
      return { service: service.name, status: 'down', error: error.message, ms: Date.now() - context.startedAt }
    }
  }

  /** Aggregated health of every service: `{ status, services: [...] }`. */
  async function checkAll () {
    const results = await Promise.all(services.map(held ? callServiceHeld : callService))
    const status = results.every((result) => result.status === 'pass') ? 'pass' : 'fail'
    return { status, services: results }
  }

  function close () {
    expiryLog.close()
    handleMap.close()
    agent.destroy()
  }

  return { checkAll, handleMap, expiryLog, close, regression, held, ttl }
}

// GET `url`, pushing the body's chunks into `chunks` (the call's context
// holds the response as it streams in). Resolves with the status code.
function requestHealth (agent, url, chunks) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, timeout: CALL_TIMEOUT_MS }, (response) => {
      response.on('data', (chunk) => chunks.push(chunk))
      response.on('end', () => resolve(response.statusCode))
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)))
    request.on('error', reject)
  })
}

function summarize (context, statusCode) {
  const ms = Date.now() - context.startedAt
  if (statusCode !== 200) return { service: context.service, status: 'down', httpStatus: statusCode, ms }
  const body = JSON.parse(Buffer.concat(context.chunks).toString('utf8'))
  return { service: context.service, status: body.status, checks: body.checks.length, ms }
}

// onExpire can fire thousands of times under load: log the first expired
// context in full (its insert site is the lead), then one count per second.
function createExpiryLog (log) {
  let total = 0
  let pending = 0
  let firstLogged = false
  const timer = setInterval(flush, EXPIRY_SUMMARY_MS)
  timer.unref()

  function record (entry) {
    total++
    if (!firstLogged) {
      firstLogged = true
      log(`onExpire: call context #${entry.key} (${entry.value.service}) expired after ${entry.ageMs} ms without being removed; inserted at ${entry.site}${entry.value.statusCode ? ` (the call had answered ${entry.value.statusCode})` : ''}`)
      return
    }
    pending++
  }

  function flush () {
    if (pending === 0) return
    log(`onExpire: ${pending} more call contexts expired (${total} in all)`)
    pending = 0
  }

  function close () {
    clearInterval(timer)
    flush()
  }

  return { record, flush, close, total: () => total }
}

module.exports = { createCore, regressionRequested, heldRequested, DEFAULT_TTL_MS, FAIL_SHARE }
