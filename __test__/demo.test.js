'use strict'
// The status-service demo with fewer requests: the same runs in child
// processes, the same outcomes asserted.

const { describe, it, before } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { runScenario, judge, removesInHeldVariant } = require('../examples/status-service/scenario.js')

const CORE_FILE = path.join(__dirname, '..', 'examples', 'status-service', 'core.js')
const REQUESTS = 200
const SHORT_TTL_MS = 50

// Read here rather than taken from scenario.js, so a bug in its finder
// cannot make the test agree with it.
function insertLineOfCore () {
  const lines = fs.readFileSync(CORE_FILE, 'utf8').split('\n')
  const hits = []
  lines.forEach((text, index) => {
    if (/\bhandleMap\.set\(/.test(text.replace(/\/\/.*$/, ''))) hits.push(index + 1)
  })
  assert.equal(hits.length, 1, 'core.js has exactly one handleMap.set( call')
  return hits[0]
}

function holdLineOfCore () {
  const lines = fs.readFileSync(CORE_FILE, 'utf8').split('\n')
  const hits = []
  lines.forEach((text, index) => {
    if (/\bhandleMap\.hold\(/.test(text.replace(/\/\/.*$/, ''))) hits.push(index + 1)
  })
  assert.equal(hits.length, 1, 'core.js has exactly one handleMap.hold( call')
  return hits[0]
}

const atLine = (line) => (site) => site.site.includes(`(${CORE_FILE}:${line}:`)

describe('status-service demo scenario', { timeout: 120_000 }, () => {
  let outcome
  let clean, regression, ttl, held, partial
  const insertLine = insertLineOfCore()
  const holdLine = holdLineOfCore()

  before(async () => {
    outcome = await runScenario({ requests: REQUESTS, connections: 8, shortTtlMs: SHORT_TTL_MS, samples: 10 })
    ;[clean, regression, ttl] = outcome.runs
    held = outcome.runs.find((run) => run.name === 'held')
    partial = outcome.runs.find((run) => run.name === 'partial')
  })

  it('answered every /status request in every run (the partial run\'s failed calls with 503)', () => {
    assert.equal(outcome.runs.length, 5)
    assert.equal(partial.load.ok + partial.load.non2xx, REQUESTS, 'partial: 200 or 503')
    assert.ok(partial.load.non2xx > 0, 'partial: some services failed')
    for (const run of [clean, regression, ttl, held]) {
      assert.equal(run.load.ok, REQUESTS, `${run.name}: 2xx answers (${run.load.non2xx} non-2xx, ${run.load.errors} errors or timeouts)`)
      assert.equal(run.load.non2xx + run.load.errors, 0, `${run.name}: failures`)
      assert.equal(run.idleStatus, 200, `${run.name}: idle request`)
      assert.equal(run.debugHandles.status, 200, `${run.name}: /debug/handles`)
    }
  })

  it('names core.js\'s insert line as the only suspect when the cleanup is lost', () => {
    const calls = (REQUESTS + 1) * regression.services
    const suspects = regression.map.sites.filter((site) => site.suspect)
    assert.equal(suspects.length, 1, 'one suspect site')
    const [suspect] = suspects
    assert.ok(atLine(insertLine)(suspect), `suspect ${suspect.site} is core.js:${insertLine}`)
    assert.equal(suspect.inserts, calls)
    assert.equal(suspect.removes, 0)
    assert.equal(suspect.live, calls)
    assert.equal(regression.map.live, calls, 'every call context is still live')
    assert.match(regression.debugHandles.text, new RegExp(`core\\.js:${insertLine}:`), '/debug/handles names the insert line too')
  })

  it('ends the clean run with no live handles, every insert removed', () => {
    assert.equal(clean.map.live, 0)
    assert.equal(clean.map.inserts, (REQUESTS + 1) * clean.services)
    assert.equal(clean.map.removes, clean.map.inserts)
    assert.equal(clean.map.sites.filter((site) => site.suspect).length, 0, 'no suspect site')
    const insert = clean.map.sites.find(atLine(insertLine))
    assert.ok(insert, 'the insert line is in the report')
    assert.ok(insert.removedAt.some((removed) => removed.site.includes(`(${CORE_FILE}:`)), 'removed in core.js')
  })

  it('keeps the map bounded with a short TTL: leaked contexts expire and onExpire sees them', () => {
    assert.equal(ttl.ttlMs, SHORT_TTL_MS)
    assert.ok(ttl.map.expired > 0, 'something expired')
    assert.equal(ttl.map.expired + ttl.map.live, ttl.map.inserts, 'every insert expired or is live')
    assert.ok(ttl.map.live <= ttl.services, `only the idle request's contexts are live (${ttl.map.live})`)
    assert.ok(ttl.peakLive < regression.map.live, `peak ${ttl.peakLive} < ${regression.map.live} without the TTL`)
    assert.equal(ttl.expiredLogged, ttl.map.expired, 'onExpire was called for every expired context')
    assert.match(ttl.expiryLog[0], new RegExp(`core\\.js:${insertLine}:`), 'the first onExpire line names the insert site')
    assert.ok(ttl.map.sites.find(atLine(insertLine)).suspect, 'expiring without removes is still suspect')
  })

  it('catches the cleanup lost on failed calls only at the insert line, by its expiry share', () => {
    assert.equal(partial.regression, 'partial')
    assert.equal(partial.ttlMs, 4 * SHORT_TTL_MS)
    const site = partial.map.sites.find(atLine(insertLine))
    assert.ok(site, 'the insert line is in the report')
    assert.ok(site.removes > 0 && site.expired > 0, `${site.removes} removed, ${site.expired} expired`)
    assert.ok(site.expired < site.removes / 5, 'only a small share expires')
    assert.equal(site.suspect, true)
    const share = 100 * site.expired / (site.expired + site.removes)
    const shown = share < 10 ? share.toFixed(1) : share.toFixed(0)
    assert.equal(site.reason, `${shown}% of this site's entries expire instead of being removed (${site.expired} expired, ${site.removes} removed)`)
    assert.equal(partial.map.sites.filter((s) => s.suspect).length, 1, 'the only suspect')
    assert.match(partial.debugHandles.text, /expire instead of being removed/)
  })

  it('the fixed variant with hold() ends with no live handles though the regression is on: it has no delete to lose', () => {
    assert.equal(held.regression, true, 'the regression flag is on in this run')
    assert.deepEqual(removesInHeldVariant(), [], 'callServiceHeld removes nothing by hand')
    const calls = (REQUESTS + 1) * held.services
    assert.equal(held.map.live, 0)
    assert.equal(held.map.inserts, calls)
    assert.equal(held.map.removes, calls)
    const site = held.map.sites.find(atLine(holdLine))
    assert.ok(site, `the hold line core.js:${holdLine} is the insert site`)
    assert.equal(site.held, true)
    assert.equal(site.suspect, false)
    assert.equal(held.map.sites.filter((candidate) => candidate.suspect).length, 0, 'no suspect site')
    assert.match(held.debugHandles.text, new RegExp(`core\\.js:${holdLine}:\\d+\\)  \\[held`), '/debug/handles marks the site held')
    const heldCheck = outcome.checks.find((check) => check.name.includes('hold()'))
    assert.equal(heldCheck.pass, true, heldCheck.detail)
    const leakyHeld = { ...held, map: { ...held.map, live: 4 } }
    const heldVerdict = judge([clean, regression, ttl, leakyHeld, partial], outcome.insertSite).find((check) => check.name.includes('hold()'))
    assert.equal(heldVerdict.pass, false, 'a held run with live handles fails')
  })

  it('passes its own checks, and they fail when the outcome is wrong', () => {
    assert.equal(outcome.ok, true, JSON.stringify(outcome.checks, null, 2))
    const wrongLine = { ...outcome.insertSite, line: outcome.insertSite.line + 1 }
    assert.equal(judge(outcome.runs, wrongLine)[0].pass, false, 'a suspect at another line is not accepted')
    const leakyClean = { ...clean, map: { ...clean.map, live: 3 } }
    assert.equal(judge([leakyClean, regression, ttl, partial], outcome.insertSite)[1].pass, false, 'a clean run with live handles fails')
    const unboundedTtl = { ...ttl, peakLive: regression.map.live }
    assert.equal(judge([clean, regression, unboundedTtl, partial], outcome.insertSite)[2].pass, false, 'an unbounded TTL run fails')
    const missedPartial = { ...partial, map: { ...partial.map, sites: partial.map.sites.map((s) => ({ ...s, suspect: false })) } }
    assert.equal(judge([clean, regression, ttl, missedPartial], outcome.insertSite)[3].pass, false, 'a partial leak not flagged fails')
    const suspectClean = { ...clean, map: { ...clean.map, sites: clean.map.sites.map((s) => ({ ...s, suspect: true, reason: 'x' })) } }
    assert.equal(judge([suspectClean, regression, ttl, partial], outcome.insertSite)[4].pass, false, 'a suspect in the clean run fails')
  })
})
