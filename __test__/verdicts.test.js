'use strict'
// Verdicts on the shape every RPC client has: a pending map filled inside a
// Promise executor by one helper, call(), from two callers; getOrder loses its
// cleanup when a reply never comes, getUser is clean. On a custom clock (every
// operation stamped exactly), real reports must name the callers by their own
// lines (not "new Promise"), flag getOrder within 3 s of its first lost reply
// and never getUser, and say the figures in one duration format. Plus the
// sentences of every rule, from verdict objects, rendered in one place.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { HandleMap, formatReport, leakCheck, HandleLeakError } = require('..')
const { RULES, reasonOf, duration, expiryWarning } = require('../lib/shared/verdicts.js')
const { renderReportPage } = require('../lib/http/html.js')
const { markerLines } = require('./support/source.js')

const lineOf = markerLines(__filename)

const FILE = path.relative(process.cwd(), __filename)

function rpcClient (pending) {
  let nextId = 0
  function call (method, lose) {
    const id = ++nextId
    const promise = new Promise((resolve, reject) => {
      pending.set(id, { method, resolve, reject }) // @insert
    })
    promise.catch(() => {})
    return { id, lose }
  }
  function getOrder (lose) { return call('order', lose) } // @getOrder
  function getUser () { return call('user', false) } // @getUser
  // A reply removes the entry; a lost one's timeout rejects and forgets the delete.
  function settle ({ id, lose }) {
    const entry = pending.get(id)
    if (lose) {
      entry.reject(new Error('timeout'))
      return
    }
    pending.delete(id)
    entry.resolve('ok')
  }
  return { getOrder, getUser, settle }
}

/**
 * Traffic on a fake clock: a getUser and a getOrder call every 5 ms, replies
 * after 2-40 ms; from `leakFrom` on, one getOrder call in 10 loses its reply
 * (its timeout fires 500 ms later). `check(now)` runs every 100 ms, from
 * 100 ms on (before, nothing of the site was removed yet).
 */
function runRpc ({ name, leakFrom, until, check }) {
  let now = 0
  const pending = new HandleMap({ name, callSites: 'all', clock: () => now, strict: false })
  const { getOrder, getUser, settle } = rpcClient(pending)
  const due = []
  let n = 0
  for (; now <= until; now += 1) {
    if (now % 5 === 0) {
      n++
      const latency = 2 + (n * 7919) % 39
      due.push([now + latency, getUser()])
      const lose = now >= leakFrom && n % 10 === 0
      due.push([now + (lose ? 500 : latency), getOrder(lose)])
    }
    for (let i = due.length - 1; i >= 0; i--) {
      if (due[i][0] <= now) {
        settle(due[i][1])
        due.splice(i, 1)
      }
    }
    if (now > 0 && now % 100 === 0 && check(now, pending) === false) break
  }
  return pending
}

test('the RPC shape: callers named by their own lines, getOrder flagged within 3 s of its first lost reply, getUser never', () => {
  const leakFrom = 5_000
  let flaggedAt = null
  let report = null
  const pending = runRpc({
    name: 'verdicts.rpc',
    leakFrom,
    until: 12_000,
    check (now, map) {
      const current = map.report()
      const [site] = current.sites
      if (!site) return
      for (const caller of site.callers) {
        if (caller.label.includes(`:${lineOf('getUser')}:`)) assert.equal(caller.suspect, false, `getUser flagged at ${now} ms: ${caller.reason}`)
      }
      if (flaggedAt === null && site.suspect) {
        flaggedAt = now
        report = current
        return false
      }
    }
  })
  try {
    assert.ok(flaggedAt !== null, 'getOrder is flagged')
    assert.ok(flaggedAt <= leakFrom + 3_000, `flagged ${flaggedAt - leakFrom} ms after the first lost reply`)
    const [site] = report.sites
    assert.match(site.site, new RegExp(`^<anonymous> \\(.*verdicts\\.test\\.js:${lineOf('insert')}:\\d+\\)$`))
    const [order, user] = site.callers
    assert.match(order.label, new RegExp(`^getOrder \\(.*verdicts\\.test\\.js:${lineOf('getOrder')}:\\d+\\)$`))
    assert.match(user.label, new RegExp(`^getUser \\(.*verdicts\\.test\\.js:${lineOf('getUser')}:\\d+\\)$`))
    assert.equal(order.suspect, true)
    assert.equal(order.verdict.rule, RULES.OUTLIERS)
    assert.equal(order.verdict.scope, 'caller')
    const e = order.verdict.evidence
    assert.equal(e.versus, 'own-history')
    assert.equal(e.olderThanMs, 1_000, 'max(1 s, 5 x p99 40 ms, the longest lifetime)')
    assert.ok(e.chance <= e.bound && e.bound === 1e-6, JSON.stringify(e))
    assert.equal(order.verdict.count, e.beyond)
    // The reason is the verdict's figures in words, and the site's names the caller.
    assert.equal(order.reason, reasonOf(order.verdict))
    assert.equal(site.reason, reasonOf(site.verdict, { caller: order.label }))
    assert.match(order.reason, new RegExp(`^${e.beyond} live entries are older than 1\\.0 s \\(oldest ${duration(order.verdict.oldestMs).replace('.', '\\.')}\\), where this caller's history expects [\\d.]+; its entries are removed within (39|40) ms (99 times in 100|999 times in 1000), and none of its ${e.reference} outlived 1\\.0 s \\(chance 1 in [\\d.]+e\\d+ if nothing were wrong\\)$`))
    // Text and page name both callers by their lines; "new Promise" names neither.
    const text = formatReport(report)
    const callerLines = text.split('\n').filter(line => line.startsWith('       caller '))
    assert.match(callerLines[0], new RegExp(`^ {7}caller getOrder \\(${FILE.replace(/[.]/g, '\\.')}:\\d+:\\d+\\) .*SUSPECT$`))
    assert.match(callerLines[1], new RegExp(`^ {7}caller getUser \\(${FILE.replace(/[.]/g, '\\.')}:\\d+:\\d+\\) `))
    assert.ok(!text.includes('new Promise'), text)
    const page = renderReportPage({ pid: 1, at: 0, maps: [report] })
    assert.ok(page.includes('from getOrder (') && page.includes('from getUser ('))
    assert.ok(!page.includes('from new Promise'))
    // One duration format: "12 ms", "1.0 s", never "12ms" or "1.0s".
    assert.doesNotMatch(text, /\d(ms|s)\b/)
  } finally {
    pending.close()
  }
})

test('before the leak, and with a floor past every age, nothing is flagged', () => {
  const pending = runRpc({
    name: 'verdicts.rpc.clean',
    leakFrom: Infinity,
    until: 8_000,
    check (now, map) {
      for (const site of map.report().sites) assert.equal(site.suspect, false, `at ${now} ms: ${site.reason}`)
    }
  })
  pending.close()
  const floored = runRpc({
    name: 'verdicts.rpc.floor',
    leakFrom: 1_000,
    until: 6_000,
    check (now, map) {
      for (const site of map.report({ outlierFloorMs: 60_000 }).sites) assert.equal(site.suspect, false, `at ${now} ms: ${site.reason}`)
    }
  })
  floored.close()
})

test('leakCheck names the site and the caller that grew it', async () => {
  let now = 0
  const pending = new HandleMap({ name: 'verdicts.leakcheck', callSites: 'all', clock: () => now, strict: false })
  const { getOrder, getUser, settle } = rpcClient(pending)
  try {
    settle(getUser()) // a clean sibling through the same site
    await assert.rejects(leakCheck(() => { now += 10; getOrder(true) }, { iterations: 3, retries: 0 }), error => {
      assert.ok(error instanceof HandleLeakError)
      assert.match(error.message, new RegExp(`verdicts\\.leakcheck: \\+3 live at <anonymous> \\(.*verdicts\\.test\\.js:${lineOf('insert')}:\\d+\\) \\(most from getOrder \\(.*verdicts\\.test\\.js:${lineOf('getOrder')}:\\d+\\)\\)`))
      return true
    })
  } finally {
    pending.close()
  }
})

test('every rule\'s sentence comes from its verdict object, in one duration format', () => {
  const evidence = {
    versus: 'other-callers',
    olderThanMs: 1000,
    reference: 1200,
    referenceBeyond: 0,
    lifetimes: 1200,
    p99Ms: 9,
    p999Ms: 12,
    maxMs: 14,
    entries: 40,
    beyond: 40,
    expected: 0.03,
    chance: 3.1e-9,
    bound: 1e-6
  }
  assert.equal(reasonOf({ rule: 'never-removed', scope: 'caller', live: 40, expired: 0, oldestMs: 1200, estimated: false, evidence }),
    'never removed from this caller: 40 live, oldest 1.2 s; the site\'s other callers\' entries are removed within 12 ms 999 times in 1000, and none of their 1200 outlived 1.0 s (chance 1 in 3.2e8 if this caller were like them)')
  assert.equal(reasonOf({ rule: 'never-removed', scope: 'caller', live: 40, expired: 2, oldestMs: 1200, estimated: true, evidence }, { caller: 'getOrder (o.js:4:29)' }),
    'never removed from caller getOrder (o.js:4:29): ~40 live, ~2 expired by the TTL, oldest 1.2 s; the site\'s other callers\' entries are removed within 12 ms 999 times in 1000, and none of their 1200 outlived 1.0 s (chance 1 in 3.2e8 if this caller were like them)')
  assert.equal(reasonOf({ rule: 'never-removed', scope: 'site', live: 6, expired: 0, oldestMs: 4000, estimated: false, evidence: null }), 'inserted but never removed')
  assert.equal(reasonOf({ rule: 'never-removed', scope: 'site', live: 0, expired: 3, oldestMs: null, estimated: false, evidence: null }), 'entries only ever expire (3 expired), never removed')
  assert.equal(reasonOf({ rule: 'never-removed', scope: 'site', live: 1, expired: 2, oldestMs: 5, estimated: false, evidence: null }), 'never removed: 1 live, 2 expired by the TTL')
  const own = { ...evidence, versus: 'own-history', reference: 80, referenceBeyond: 1, lifetimes: 80, entries: 100, beyond: 12, expected: 2.5, chance: 2e-7 }
  assert.equal(reasonOf({ rule: 'outliers', scope: 'site', count: 12, more: false, oldestMs: 65_000, estimated: false, evidence: own }),
    '12 live entries are older than 1.0 s (oldest 1.1 min), where this site\'s history expects 2.5; its 80 removed entries all ended within 14 ms, and 1 of its 80 outlived 1.0 s (chance 1 in 5.0e6 if nothing were wrong)')
  assert.equal(reasonOf({ rule: 'outliers', scope: 'caller', count: 1, more: false, oldestMs: 2500, estimated: false, evidence: { ...own, lifetimes: 150 } }),
    '1 live entry is older than 1.0 s (oldest 2.5 s), where this caller\'s history expects 2.5; its entries are removed within 9 ms 99 times in 100, and 1 of its 80 outlived 1.0 s (chance 1 in 5.0e6 if nothing were wrong)')
  assert.equal(reasonOf({ rule: 'expiry-share', scope: 'site', expired: 10, removed: 190, share: 0.05, estimated: false }),
    '5.0% of this site\'s entries expire instead of being removed (10 expired, 190 removed)')
  assert.equal(reasonOf({ rule: 'expiry-share', scope: 'caller', expired: 30, removed: 70, share: 0.3, estimated: true }, { caller: 'a (x.js:1:1)' }),
    '30% of caller a (x.js:1:1)\'s entries expire instead of being removed (~30 expired, ~70 removed)')
  assert.equal(reasonOf({ rule: 'growth', scope: 'site', grown: 80, from: 12, to: 92, windowMs: 8000, removed: 720, oldestMs: 8930, p99Ms: 20, estimated: false }),
    'live grew by 80 (12 -> 92) in 8.0 s while 720 were removed; the oldest has lived 8.9 s, through the whole window; entries of this site are normally removed within 20 ms (p99)')
  assert.equal(reasonOf({ rule: 'future-rule', scope: 'site' }), 'suspect by rule "future-rule"')
  assert.equal(reasonOf(null), null)
  assert.deepEqual(Object.values(RULES), ['never-removed', 'outliers', 'expiry-share', 'growth'])
  assert.deepEqual([duration(40), duration(12_345), duration(252_000), duration(5_400_000), duration(null)], ['40 ms', '12.3 s', '4.2 min', '1.5 h', '-'])
  assert.deepEqual(expiryWarning({ mapName: 'm', where: 'a (x.js:1:1) from b (y.js:2:2)', ageMs: 1500 }), {
    message: 'HandleMap "m": an entry inserted at a (x.js:1:1) from b (y.js:2:2) expired after 1.5 s without being removed (further warnings for this site are muted for a minute)',
    detail: 'Remove the entry on every path out of a (x.js:1:1) from b (y.js:2:2), or raise the map\'s ttl if it is meant to live longer.'
  })
})

test('the native rules name their verdicts with the rule constants', () => {
  let now = 0
  const maps = [null, 100].map(ttl => new HandleMap({ name: `verdicts.native-rules-${ttl}`, callSites: 'all', ttl: ttl ?? 0, clock: () => now, strict: false }))
  const neverRemoved = new HandleMap({ name: 'verdicts.native-never', callSites: 'all', clock: () => now, strict: false })
  try {
    for (const map of maps) {
      const { getOrder, getUser, settle } = rpcClient(map)
      // 200 calls of each, removed within 2 ms, but getOrder loses one in 5.
      for (let i = 0; i < 200; i++) {
        settle(getUser())
        const order = getOrder(i % 5 === 0)
        now += 2
        if (!order.lose) settle(order)
        now += 3
      }
    }
    neverRemoved.set('k', 1)
    now += 2_500
    maps[1].purgeExpired()
    const verdicts = [maps[0], maps[1], neverRemoved].map(map => map.report().sites[0].verdict)
    assert.deepEqual(verdicts.map(verdict => verdict.rule), [RULES.OUTLIERS, RULES.EXPIRY_SHARE, RULES.NEVER_REMOVED])
    assert.deepEqual(verdicts.map(verdict => verdict.scope), ['caller', 'site', 'site'])
    assert.deepEqual([verdicts[1].expired, verdicts[1].removed, verdicts[1].share], [40, 360, 0.1])
  } finally {
    for (const map of [...maps, neverRemoved]) map.close()
  }
})
