'use strict'
// handleMap.report() / registry.report() figures, sites, limits,
// filters, oldest entries, JSON and the text rendering.
//
// Expected sites are computed from this file's own text: every call that
// inserts or removes sits on a line ending with a `// @tag` marker, and
// lineOf(tag) finds that line. No line number is written down anywhere.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { HandleMap, registry, formatReport } = require('..')
// The map's native ledger (internal: not exported from index.js).
const nativeLedgerOf = require('../lib/map/handle-map.js').internals.nativeLedger

const SOURCE_LINES = fs.readFileSync(__filename, 'utf8').split('\n')

/** The 1-based line of this file that ends with the marker `// @tag`. */
function lineOf (tag) {
  const marker = '// @' + tag
  const hits = []
  SOURCE_LINES.forEach((text, index) => {
    if (text.trimEnd().endsWith(marker)) hits.push(index + 1)
  })
  assert.equal(hits.length, 1, `marker ${marker} must appear exactly once in ${__filename}`)
  return hits[0]
}

function escapeRegExp (text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `fn (this file:line:col)` with the line of `tag`, as a RegExp. */
function siteRe (fn, tag, file = __filename) {
  return new RegExp(`^${escapeRegExp(fn)} \\(${escapeRegExp(file)}:${lineOf(tag)}:\\d+\\)$`)
}

/** Deterministic PRNG (mulberry32), so a failing workload can be replayed. */
function prng (seed) {
  let a = seed >>> 0
  return function random () {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Four standard deviations of an estimated count. A sampled figure is
 * `total` times a share estimated from `samples` observations; the gaps
 * between observations are random, independent of what is observed, so each
 * is a fair draw and the share's standard error is binomial. (Uniform gaps
 * vary less than a Bernoulli sampler's: this bound is on the safe side.)
 */
function fourSigma (total, truth, samples) {
  const p = truth / total
  return 4 * total * Math.sqrt(p * (1 - p) / samples)
}

// How lib/handle-map.js samples remove sites: every remove of an insert
// site's first REMOVE_SITES_ALWAYS, then one at random gaps averaging
// REMOVE_SAMPLE_PERIOD removes.
const REMOVE_SITES_ALWAYS = 8
const REMOVE_SAMPLE_PERIOD = 8
const removeSamples = removes => Math.min(removes, REMOVE_SITES_ALWAYS) + Math.max(0, removes - REMOVE_SITES_ALWAYS) / REMOVE_SAMPLE_PERIOD

// ---- the call sites of this file -----------------------------------------

function insertA (map, key, value) { map.set(key, value) } // @insertA
function insertB (map, key, value) { map.set(key, value) } // @insertB
function insertC (map, key, value) { map.set(key, value) } // @insertC
function insertD (map, key, value) { map.set(key, value) } // @insertD
function removeX (map, key) { return map.delete(key) } // @removeX
function removeY (map, key) { return map.delete(key) } // @removeY
function overwrite (map, key, value) { map.set(key, value) }
function leakyInsert (map, key, value) { map.set(key, value) } // @leakyInsert
function cleanInsert (map, key, value) { map.set(key, value) } // @cleanInsert
function expiringInsert (map, key, value) { map.set(key, value) } // @expiringInsert
function halfExpiringInsert (map, key, value) { map.set(key, value) } // @halfExpiringInsert
function removedOrExpiredInsert (map, key, value) { map.set(key, value) } // @removedOrExpiredInsert

// Twenty-five distinct insert sites (five per line, told apart by column).
const MANY_SITES = [
  (m, k) => m.set(k, 0), (m, k) => m.set(k, 1), (m, k) => m.set(k, 2), (m, k) => m.set(k, 3), (m, k) => m.set(k, 4), // @many0
  (m, k) => m.set(k, 5), (m, k) => m.set(k, 6), (m, k) => m.set(k, 7), (m, k) => m.set(k, 8), (m, k) => m.set(k, 9), // @many1
  (m, k) => m.set(k, 10), (m, k) => m.set(k, 11), (m, k) => m.set(k, 12), (m, k) => m.set(k, 13), (m, k) => m.set(k, 14), // @many2
  (m, k) => m.set(k, 15), (m, k) => m.set(k, 16), (m, k) => m.set(k, 17), (m, k) => m.set(k, 18), (m, k) => m.set(k, 19), // @many3
  (m, k) => m.set(k, 20), (m, k) => m.set(k, 21), (m, k) => m.set(k, 22), (m, k) => m.set(k, 23), (m, k) => m.set(k, 24) // @many4
]

const INSERTERS = { A: insertA, B: insertB, C: insertC, D: insertD }

function emptyCounts () {
  return { live: 0, inserts: 0, removes: 0, expired: 0, overwrites: 0 }
}

// ---- exact figures in 'all' mode -----------------------------------------

test("'all' mode: map and site figures match a model after a random workload", () => {
  const random = prng(0x5eed1)
  const TTL = 400
  let now = 1_000_000
  const map = new HandleMap({ name: 'report.random', ttl: TTL, clock: () => now, callSites: 'all', strict: false })
  try {
    // The model: key -> { site, insertedAt, deadline }, and figures per site.
    const live = new Map()
    const sites = { A: emptyCounts(), B: emptyCounts(), C: emptyCounts(), D: emptyCounts() }
    const total = emptyCounts()
    const removedBy = { A: { X: 0, Y: 0 }, B: { X: 0, Y: 0 }, C: { X: 0, Y: 0 }, D: { X: 0, Y: 0 } }

    function expireModel () {
      let expired = 0
      for (const [key, entry] of live) {
        if (entry.deadline <= now) {
          live.delete(key)
          sites[entry.site].live--
          sites[entry.site].expired++
          total.live--
          total.expired++
          expired++
        }
      }
      return expired
    }

    for (let op = 0; op < 8000; op++) {
      now += Math.floor(random() * 4) // 0..3 ms per operation
      const key = 'k' + Math.floor(random() * 300)
      const entry = live.get(key)
      if (entry === undefined) {
        const r = random()
        const site = r < 0.4 ? 'A' : r < 0.7 ? 'B' : r < 0.9 ? 'C' : 'D'
        const insert = INSERTERS[site] // called as a plain function: the site reads `insertA (...)`
        insert(map, key, { op })
        live.set(key, { site, insertedAt: now, deadline: now + TTL })
        sites[site].inserts++
        sites[site].live++
        total.inserts++
        total.live++
      } else {
        const r = random()
        if (r < 0.15) {
          overwrite(map, key, { op })
          entry.deadline = now + TTL // an overwrite restarts the TTL, not the age
          sites[entry.site].overwrites++
          total.overwrites++
        } else if (r < 0.25) {
          assert.equal(map.touch(key), true)
          entry.deadline = now + TTL
        } else if (entry.site !== 'D') { // site D's entries are never removed
          const viaX = random() < 0.75
          assert.equal(viaX ? removeX(map, key) : removeY(map, key), true)
          live.delete(key)
          sites[entry.site].removes++
          sites[entry.site].live--
          removedBy[entry.site][viaX ? 'X' : 'Y']++
          total.removes++
          total.live--
        }
      }
      if (op % 97 === 96) assert.equal(map.purgeExpired(), expireModel(), `expired count at op ${op}`)
    }
    now += 50
    assert.equal(map.purgeExpired(), expireModel())
    assert.equal(map.size, live.size)

    const report = map.report({ limit: Infinity })
    const oldestOf = entries => entries.length === 0 ? null : now - Math.min(...entries.map(e => e.insertedAt))

    assert.equal(report.name, 'report.random')
    assert.equal(report.callSites, 'all')
    assert.equal(report.estimated, false)
    assert.equal(report.ttlMs, TTL)
    assert.equal(report.at, now)
    assert.deepEqual(
      { live: report.live, inserts: report.inserts, removes: report.removes, expired: report.expired, overwrites: report.overwrites },
      total
    )
    assert.equal(report.oldestAgeMs, oldestOf([...live.values()]))
    assert.equal(report.sites.length, 4)
    assert.equal(report.sitesOmitted, 0)
    assert.ok(total.expired > 100 && total.removes > 1000 && total.overwrites > 100, 'the workload exercises every path')

    const removeXSite = siteRe('removeX', 'removeX')
    const removeYSite = siteRe('removeY', 'removeY')
    for (const name of Object.keys(sites)) {
      const expectedSite = siteRe(INSERTERS[name].name, 'insert' + name)
      const site = report.sites.find(s => expectedSite.test(s.site))
      assert.ok(site, `site ${name} is in the report: ${report.sites.map(s => s.site).join(', ')}`)
      const figures = { live: site.live, inserts: site.inserts, removes: site.removes, expired: site.expired, overwrites: site.overwrites }
      assert.deepEqual(figures, sites[name], `figures of site ${name}`)
      assert.equal(site.live, site.inserts - site.removes - site.expired)
      assert.equal(site.oldestAgeMs, oldestOf([...live.values()].filter(e => e.site === name)), `oldest of site ${name}`)
      assert.equal(site.estimated, false)
      assert.equal(site.stack[0], site.site)
      assert.ok(site.stack.length >= 2, 'the stack has the caller too')

      if (name === 'D') {
        assert.equal(site.suspect, true)
        assert.deepEqual(site.removedAt, [])
        assert.match(site.reason, /never removed/)
        continue
      }
      // Removed normally, but a share of its entries expires (the workload
      // lets some run past the TTL): the expiry share rule names it.
      const share = 100 * site.expired / (site.expired + site.removes)
      const shown = share < 10 ? share.toFixed(1) : share.toFixed(0)
      assert.equal(site.suspect, site.expired >= 3 && share >= 1, `site ${name}: ${site.expired} expired, ${site.removes} removed`)
      if (site.suspect) assert.equal(site.reason, `${shown}% of this site's entries expire instead of being removed (${site.expired} expired, ${site.removes} removed)`)
      // The remove-site breakdown: both remove sites, in about the true proportions.
      assert.equal(site.removedAt.length, 2, `site ${name} names both remove sites`)
      const x = site.removedAt.find(r => removeXSite.test(r.site))
      const y = site.removedAt.find(r => removeYSite.test(r.site))
      assert.ok(x && y, `removedAt of ${name}: ${JSON.stringify(site.removedAt)}`)
      assert.ok(Math.abs(x.count + y.count - site.removes) <= 1, 'the breakdown adds up to the removes')
      // The share is estimated from the sampled removes (removeSamples):
      // allow four standard deviations of that estimate.
      const tolerance = fourSigma(site.removes, removedBy[name].X, removeSamples(site.removes))
      assert.ok(Math.abs(x.count - removedBy[name].X) <= tolerance,
        `site ${name}: removeX credited ${x.count}, true ${removedBy[name].X} (tolerance ${tolerance.toFixed(1)})`)
      assert.ok(site.removedAt[0].count >= site.removedAt[1].count, 'remove sites sorted by count')
    }

    // Sorted by live count, then by oldest age.
    for (let i = 1; i < report.sites.length; i++) {
      const a = report.sites[i - 1]
      const b = report.sites[i]
      assert.ok(a.live > b.live || (a.live === b.live && (a.oldestAgeMs ?? -1) >= (b.oldestAgeMs ?? -1)), `order at ${i}`)
    }
  } finally {
    map.close()
  }
})

// ---- the remove-site breakdown -------------------------------------------

test('removedAt: two remove sites in a 3:1 random mix are credited about 3:1', () => {
  const random = prng(7)
  const map = new HandleMap({ name: 'report.removedAt.random', callSites: 'all', strict: false })
  try {
    const truth = { X: 0, Y: 0 }
    for (let i = 0; i < 4000; i++) insertA(map, i, i)
    for (let i = 0; i < 4000; i++) {
      if (random() < 0.75) { removeX(map, i); truth.X++ } else { removeY(map, i); truth.Y++ }
    }
    const [site] = map.report().sites
    assert.match(site.site, siteRe('insertA', 'insertA'))
    assert.equal(site.removes, 4000)
    assert.equal(site.removedAt.length, 2)
    const x = site.removedAt.find(r => siteRe('removeX', 'removeX').test(r.site))
    const y = site.removedAt.find(r => siteRe('removeY', 'removeY').test(r.site))
    assert.ok(x && y, JSON.stringify(site.removedAt))
    assert.equal(site.removedAt[0], x, 'the larger share comes first')
    assert.ok(Math.abs(x.count + y.count - 4000) <= 1)
    // About 500 of the 4000 remove sites are observed (removeSamples): one
    // standard deviation is ~77 removes, the same for both shares.
    const tolerance = fourSigma(4000, truth.X, removeSamples(4000))
    assert.ok(Math.abs(x.count - truth.X) <= tolerance, `removeX credited ${x.count}, true ${truth.X} (tolerance ${tolerance.toFixed(1)})`)
    assert.ok(Math.abs(y.count - truth.Y) <= tolerance, `removeY credited ${y.count}, true ${truth.Y} (tolerance ${tolerance.toFixed(1)})`)
    assert.equal(x.estimated, true, 'remove sites are sampled, so the breakdown is an estimate')
  } finally {
    map.close()
  }
})

test('removedAt: a periodic 3:1 pattern of two remove sites is credited about 3:1', () => {
  // Every 4th entry is removed at removeY, the others at removeX. The true
  // breakdown is 750/250; random gaps between samples keep the pattern from
  // aliasing onto one site, so the estimate is as good as a random mix's.
  const map = new HandleMap({ name: 'report.removedAt.periodic', callSites: 'all', strict: false })
  try {
    for (let i = 0; i < 1000; i++) insertA(map, i, i)
    for (let i = 0; i < 1000; i++) {
      if (i % 4 === 3) removeY(map, i); else removeX(map, i)
    }
    const [site] = map.report().sites
    const x = site.removedAt.find(r => siteRe('removeX', 'removeX').test(r.site))
    const y = site.removedAt.find(r => siteRe('removeY', 'removeY').test(r.site))
    assert.ok(x && y, JSON.stringify(site.removedAt))
    const tolerance = fourSigma(1000, 750, removeSamples(1000)) // ~150
    assert.ok(Math.abs(x.count - 750) <= tolerance, `removeX credited ${x.count} of 750 removes: ${JSON.stringify(site.removedAt)}`)
    assert.ok(Math.abs(y.count - 250) <= tolerance, `removeY credited ${y.count} of 250 removes: ${JSON.stringify(site.removedAt)}`)
  } finally {
    map.close()
  }
})

test('removedAt: a single remove of a site is exact and names its remove site', () => {
  const map = new HandleMap({ name: 'report.removedAt.one', callSites: 'all', strict: false })
  try {
    insertA(map, 'a', 1)
    insertB(map, 'b', 1)
    removeY(map, 'b')
    const report = map.report()
    const b = report.sites.find(s => siteRe('insertB', 'insertB').test(s.site))
    assert.equal(b.removedAt.length, 1)
    assert.match(b.removedAt[0].site, siteRe('removeY', 'removeY'))
    assert.equal(b.removedAt[0].count, 1)
    assert.equal(b.removedAt[0].estimated, false)
    const a = report.sites.find(s => siteRe('insertA', 'insertA').test(s.site))
    assert.deepEqual(a.removedAt, [])
  } finally {
    map.close()
  }
})

// ---- 'sampled' mode --------------------------------------------------------

test("'sampled' mode: site figures are weighted estimates, flagged as such, of the right magnitude", () => {
  const random = prng(42)
  let now = 0
  const map = new HandleMap({ name: 'report.sampled', callSites: 'sampled', sampleRate: 8, ttl: 1000, clock: () => now, strict: false })
  try {
    // A: 6000 entries, all removed at removeX. B: 1000 expire, 1000 stay live; never removed.
    let a = 0
    let b = 0
    while (a < 6000 || b < 1000) {
      if (b >= 1000 || (a < 6000 && random() < 0.75)) {
        insertA(map, 'a' + a, a)
        removeX(map, 'a' + a)
        a++
      } else {
        insertB(map, 'b' + b, b)
        b++
      }
    }
    now = 2000
    assert.equal(map.purgeExpired(), 1000)
    for (let i = 0; i < 1000; i++) insertB(map, 'late' + i, i)
    now = 2500

    const report = map.report()
    // Map figures count every operation: exact.
    assert.equal(report.callSites, 'sampled')
    assert.equal(report.sampleRate, 8)
    assert.equal(report.estimated, true)
    assert.deepEqual([report.live, report.inserts, report.removes, report.expired], [1000, 8000, 6000, 1000])
    assert.equal(report.oldestAgeMs, 500)

    const siteA = report.sites.find(s => siteRe('insertA', 'insertA').test(s.site))
    const siteB = report.sites.find(s => siteRe('insertB', 'insertB').test(s.site))
    assert.ok(siteA && siteB, JSON.stringify(report.sites.map(s => s.site)))
    assert.equal(report.sites.length, 2)
    for (const site of [siteA, siteB]) {
      assert.equal(site.estimated, true)
      assert.equal(site.live, site.inserts - site.removes - site.expired, 'scaled figures stay consistent')
    }
    // A site's figure is the map's total times its share of the recorded
    // inserts: about 8000 / 8 of them (random gaps averaging sampleRate).
    const near = (value, truth) => Math.abs(value - truth) <= fourSigma(8000, truth, 8000 / 8)
    assert.ok(near(siteA.inserts, 6000), `A inserts ~6000, got ${siteA.inserts}`)
    assert.ok(near(siteA.removes, 6000), `A removes ~6000, got ${siteA.removes}`)
    assert.equal(siteA.live, 0)
    assert.equal(siteA.suspect, false)
    assert.ok(siteA.removedAt.length >= 1 && siteRe('removeX', 'removeX').test(siteA.removedAt[0].site))
    assert.equal(siteA.removedAt[0].estimated, true)
    assert.ok(Math.abs(siteA.removedAt[0].count - siteA.removes) <= 1, 'one remove site: credited every remove of A')

    assert.ok(near(siteB.inserts, 2000), `B inserts ~2000, got ${siteB.inserts}`)
    assert.ok(near(siteB.live, 1000), `B live ~1000, got ${siteB.live}`)
    assert.ok(near(siteB.expired, 1000), `B expired ~1000, got ${siteB.expired}`)
    assert.equal(siteB.removes, 0)
    assert.equal(siteB.suspect, true)
    // Each recorded insert weighs itself and the unrecorded inserts before
    // it: the weights add up to the map total, less the unrecorded inserts
    // after the last recorded one (a sampling gap is at most 2 x 8 - 1).
    const unweighed = 8000 - (siteA.inserts + siteB.inserts)
    assert.ok(unweighed >= 0 && unweighed <= 15, `weighted inserts add up to the map total: ${unweighed} left`)
    // The reason quotes the figures the report shows, marked as estimates.
    assert.equal(siteB.reason, `never removed: ~${siteB.live} live, ~${siteB.expired} expired by the TTL`)

    const text = formatReport(report)
    assert.match(text, /callSites=sampled \(site figures estimated\)/)
    assert.ok(text.includes(`~${siteB.live} live (~${siteB.inserts} in, ~0 out, ~${siteB.expired} expired)`), text)
  } finally {
    map.close()
  }
})

// ---- sites point at this file --------------------------------------------

test('sites name the function and the line of this file that called set() and delete()', () => {
  const map = new HandleMap({ name: 'report.sites', callSites: 'all', strict: false })
  try {
    leakyInsert(map, 1, 'one')
    map.set('inline', 'value') // @inlineSet
    const report = map.report()
    const leaky = report.sites.find(s => s.site.startsWith('leakyInsert '))
    assert.match(leaky.site, siteRe('leakyInsert', 'leakyInsert'))
    // The inline call's frame is this test's own (anonymous) function.
    const inline = report.sites.find(s => s.site.includes(`${__filename}:${lineOf('inlineSet')}:`))
    assert.ok(inline, JSON.stringify(report.sites.map(s => s.site)))
    assert.ok(inline.site.endsWith(')') && inline.site.includes(' ('), 'fn (file:line:col) shape')
    // No frame of handle-ledger itself.
    for (const site of report.sites) {
      for (const frame of site.stack) assert.ok(!frame.includes(path.join(__dirname, '..', 'lib')), frame)
    }
    // The column is the call's own: a method call sits at its property name.
    const column = Number(/:(\d+)\)$/.exec(inline.site)[1])
    assert.equal(column, SOURCE_LINES[lineOf('inlineSet') - 1].indexOf("set('inline'") + 1, inline.site)
  } finally {
    map.close()
  }
})

// ---- suspects ------------------------------------------------------------

test('suspect flags: never removed, only expired, never removed with expiries, expiry share; clean sites are not flagged', () => {
  let now = 0
  const map = new HandleMap({ name: 'report.suspects', ttl: 100, clock: () => now, strict: false })
  try {
    for (let i = 0; i < 3; i++) expiringInsert(map, 'e' + i, i)
    for (let i = 0; i < 2; i++) halfExpiringInsert(map, 'h' + i, i)
    for (let i = 0; i < 4; i++) removedOrExpiredInsert(map, 'r' + i, i)
    removeX(map, 'r0')
    now = 150
    assert.equal(map.purgeExpired(), 3 + 2 + 3)
    for (let i = 0; i < 5; i++) leakyInsert(map, 'l' + i, i)
    halfExpiringInsert(map, 'h-late', 1)
    cleanInsert(map, 'c', 1)
    removeY(map, 'c')
    now = 170

    // Judged at any age (outlierFloorMs 0): the leaky entries are 20 ms old.
    const report = map.report({ outlierFloorMs: 0 })
    const bySite = tag => report.sites.find(s => siteRe(tag, tag).test(s.site))
    const leaky = bySite('leakyInsert')
    assert.equal(leaky.suspect, true)
    assert.equal(leaky.reason, 'inserted but never removed')
    const expiring = bySite('expiringInsert')
    assert.equal(expiring.suspect, true)
    assert.equal(expiring.reason, 'entries only ever expire (3 expired), never removed')
    const half = bySite('halfExpiringInsert')
    assert.equal(half.suspect, true)
    assert.equal(half.reason, 'never removed: 1 live, 2 expired by the TTL')
    const clean = bySite('cleanInsert')
    assert.equal(clean.suspect, false)
    assert.equal(clean.reason, null)
    const mixed = bySite('removedOrExpiredInsert')
    // Removed once and expired three times: the expiry share says so.
    assert.deepEqual([mixed.removes, mixed.expired, mixed.suspect, mixed.reason], [1, 3, true, '75% of this site\'s entries expire instead of being removed (3 expired, 1 removed)'])
    // Sorted by live count, then by oldest age.
    assert.deepEqual(report.sites.map(s => s.live), [5, 1, 0, 0, 0])
    assert.equal(report.sites[0], leaky)
  } finally {
    map.close()
  }
})

// ---- limit and sitesOmitted -----------------------------------------------

test('limit bounds the sites per map and sitesOmitted says how many were left out', () => {
  let now = 0
  const map = new HandleMap({ name: 'report.limit', clock: () => now, callSites: 'all', strict: false })
  try {
    // Site i gets i + 1 live entries.
    MANY_SITES.forEach((insert, i) => {
      for (let n = 0; n <= i; n++) insert(map, `${i}/${n}`)
      now += 10
    })
    const full = map.report({ limit: Infinity })
    assert.equal(full.sites.length, 25)
    assert.equal(full.sitesOmitted, 0)
    assert.deepEqual(full.sites.map(s => s.live), Array.from({ length: 25 }, (_, i) => 25 - i))
    // Sites are distinct per column on the same line.
    assert.equal(new Set(full.sites.map(s => s.site)).size, 25)
    for (let line = 0; line < 5; line++) {
      const onLine = full.sites.filter(s => s.site.includes(`${__filename}:${lineOf('many' + line)}:`))
      assert.equal(onLine.length, 5, `five sites on the line of @many${line}`)
    }

    const byDefault = map.report()
    assert.equal(byDefault.sites.length, 20)
    assert.equal(byDefault.sitesOmitted, 5)
    assert.deepEqual(byDefault.sites, full.sites.slice(0, 20))

    const five = map.report({ limit: 5 })
    assert.deepEqual(five.sites.map(s => s.live), [25, 24, 23, 22, 21])
    assert.equal(five.sitesOmitted, 20)
    assert.match(formatReport(five), /\n {2}\.\.\. 20 more sites(\n|$)/)

    const none = map.report({ limit: 0 })
    assert.deepEqual(none.sites, [])
    assert.equal(none.sitesOmitted, 25)
    assert.equal(none.live, full.live, 'map figures do not depend on the limit')

    assert.throws(() => map.report({ limit: -1 }), RangeError)
    assert.throws(() => map.report({ limit: 1.5 }), RangeError)
    assert.throws(() => map.report({ limits: 3 }), TypeError)

    // Equal live counts: the site with the older entries comes first.
    const tie = new HandleMap({ name: 'report.limit.tie', clock: () => now, strict: false })
    try {
      insertB(tie, 'b1', 1)
      now += 100
      insertA(tie, 'a1', 1)
      now += 100
      const [first, second] = tie.report().sites
      assert.match(first.site, siteRe('insertB', 'insertB'))
      assert.equal(first.oldestAgeMs, 200)
      assert.match(second.site, siteRe('insertA', 'insertA'))
      assert.equal(second.oldestAgeMs, 100)
    } finally {
      tie.close()
    }
  } finally {
    map.close()
  }
})

// ---- the map filter ---------------------------------------------------------

test('registry.report({ map }) reports only the maps of that name', () => {
  const a = new HandleMap({ name: 'report.filter.a', strict: false })
  const b = new HandleMap({ name: 'report.filter.b', strict: false })
  try {
    for (let i = 0; i < 3; i++) insertA(a, i, i)
    for (let i = 0; i < 7; i++) insertB(b, i, i)
    removeX(b, 0)

    const all = registry.report({ limit: Infinity })
    assert.equal(all.kind, 'report')
    assert.equal(all.pid, process.pid)
    assert.equal(typeof all.at, 'number')
    const names = all.maps.map(m => m.name)
    assert.ok(names.includes('report.filter.a') && names.includes('report.filter.b'))

    const onlyB = registry.report({ map: 'report.filter.b' })
    assert.deepEqual(onlyB.maps.map(m => m.name), ['report.filter.b'])
    const [mapB] = onlyB.maps
    assert.deepEqual([mapB.live, mapB.inserts, mapB.removes], [6, 7, 1])
    assert.equal(mapB.threadId, 0)
    assert.equal(mapB.sites.length, 1)
    assert.match(mapB.sites[0].site, siteRe('insertB', 'insertB'))
    assert.equal(mapB.id, nativeLedgerOf(b).id)
    const own = b.report()
    for (const field of ['id', 'name', 'threadId', 'live', 'inserts', 'removes', 'expired', 'overwrites', 'ttlMs', 'callSites', 'estimated', 'sitesOmitted']) {
      assert.deepEqual(mapB[field], own[field], field)
    }

    assert.deepEqual(registry.report({ map: 'report.filter.nonexistent' }).maps, [])
    assert.equal(formatReport(registry.report({ map: 'report.filter.nonexistent' })), 'handle-ledger: no maps registered\n')
    assert.throws(() => registry.report({ map: 3 }), TypeError)

    b.close()
    assert.deepEqual(registry.report({ map: 'report.filter.b' }).maps, [], 'a closed map leaves the registry')
    assert.equal(registry.report({ map: 'report.filter.a' }).maps.length, 1)
  } finally {
    a.close()
    b.close()
  }
})

test('registry.report() ages a custom-clock map of this thread by that clock, like map.report()', () => {
  let now = 1000
  const map = new HandleMap({ name: 'report.registry.clock', clock: () => now, strict: false })
  try {
    insertA(map, 'k', 1)
    assert.equal(map.report().oldestAgeMs, 0)
    now = 6000
    const own = map.report()
    assert.equal(own.oldestAgeMs, 5000)
    const [fromRegistry] = registry.report({ map: 'report.registry.clock' }).maps
    assert.equal(fromRegistry.oldestAgeMs, 5000, 'registry.report() and map.report() agree on the age')
    assert.equal(fromRegistry.sites[0].oldestAgeMs, 5000)
  } finally {
    map.close()
  }
})

// ---- oldest entries, keys, values ----------------------------------------

test('oldest: n oldest live entries; keys only with includeKeys; values never', () => {
  let now = 0
  const SECRET = 'value-that-must-never-appear-4f2a'
  const map = new HandleMap({ name: 'report.oldest', clock: () => now, strict: false })
  try {
    for (let i = 0; i < 10; i++) {
      insertA(map, 'key-' + i, { secret: SECRET, i })
      now += 10
    }
    removeX(map, 'key-1') // gone from the oldest
    overwrite(map, 'key-0', SECRET + '-overwritten') // an overwrite keeps the age
    insertB(map, 'key-1', SECRET) // back, now the youngest
    insertB(map, { objectKey: true }, SECRET)
    now = 200

    const plain = map.report({ oldest: 3 })
    assert.equal(plain.oldestEntries.length, 3)
    assert.deepEqual(plain.oldestEntries.map(e => e.ageMs), [200, 180, 170])
    for (const entry of plain.oldestEntries) {
      assert.deepEqual(Object.keys(entry).sort(), ['ageMs', 'site'])
      assert.match(entry.site, siteRe('insertA', 'insertA'))
    }
    const plainJson = JSON.stringify(plain)
    assert.ok(!plainJson.includes('key-'), 'no key without includeKeys')
    assert.ok(!plainJson.includes(SECRET), 'no value')
    assert.equal(map.report().oldestEntries, undefined, 'no oldest entries unless asked')

    const withKeys = map.report({ oldest: 20, includeKeys: true })
    assert.deepEqual(withKeys.oldestEntries.map(e => e.key),
      ['key-0', 'key-2', 'key-3', 'key-4', 'key-5', 'key-6', 'key-7', 'key-8', 'key-9', 'key-1', '{ objectKey: true }'])
    assert.ok(withKeys.oldestEntries.at(-1).site.startsWith('insertB '))
    assert.ok(!JSON.stringify(withKeys).includes(SECRET), 'values never appear, even with keys')

    const viaRegistry = registry.report({ map: 'report.oldest', oldest: 2, includeKeys: true })
    assert.deepEqual(viaRegistry.maps[0].oldestEntries.map(e => e.key), ['key-0', 'key-2'])
    assert.ok(!JSON.stringify(viaRegistry).includes(SECRET))
    assert.ok(!JSON.stringify(registry.report({ map: 'report.oldest', oldest: 2 })).includes('key-'))
    assert.ok(!formatReport(withKeys).includes(SECRET))

    assert.throws(() => map.report({ oldest: -1 }), RangeError)
    assert.throws(() => map.report({ includeKeys: 'yes' }), TypeError)
  } finally {
    map.close()
  }
})

// ---- JSON ----------------------------------------------------------------

test('reports are plain objects that survive a JSON round trip unchanged', () => {
  let now = 0
  const map = new HandleMap({ name: 'report.json', ttl: 50, clock: () => now, strict: false })
  const empty = new HandleMap({ name: 'report.json.empty', strict: false })
  try {
    for (let i = 0; i < 5; i++) insertA(map, i, () => 'a function value')
    removeX(map, 0)
    now = 60
    map.purgeExpired()
    leakyInsert(map, 'x', Symbol('v'))
    now = 70
    for (const report of [
      map.report({ oldest: 2, includeKeys: true }),
      empty.report(),
      registry.report({ oldest: 1 }),
      registry.report({ map: 'report.json' })
    ]) {
      const copy = JSON.parse(JSON.stringify(report))
      assert.deepStrictEqual(copy, report)
    }
    const own = map.report()
    assert.equal(Object.getPrototypeOf(own), Object.prototype)
    assert.equal(empty.report().oldestAgeMs, null)
    for (const field of ['id', 'name', 'threadId', 'live', 'inserts', 'removes', 'expired', 'overwrites', 'oldestAgeMs',
      'ttlMs', 'callSites', 'sampleRate', 'estimated', 'flushIntervalMs', 'at', 'sites', 'sitesOmitted']) {
      assert.ok(Object.hasOwn(own, field), `map report field ${field}`)
    }
    for (const field of ['site', 'stack', 'live', 'inserts', 'removes', 'expired', 'overwrites', 'oldestAgeMs',
      'removedAt', 'suspect', 'reason', 'estimated']) {
      assert.ok(Object.hasOwn(own.sites[0], field), `site report field ${field}`)
    }
  } finally {
    map.close()
    empty.close()
  }
})

// ---- text rendering --------------------------------------------------------

test('formatReport: a header per map, SUSPECT, one line per site and the reason', () => {
  let now = 0
  const map = new HandleMap({ name: 'core.handleMap', clock: () => now, strict: false })
  try {
    for (let i = 0; i < 25; i++) leakyInsert(map, 'leak' + i, i)
    for (let i = 0; i < 4; i++) cleanInsert(map, 'ok' + i, i)
    for (let i = 0; i < 3; i++) removeX(map, 'ok' + i)
    now = 41_200
    const text = formatReport(map.report())
    const lines = text.split('\n')
    const file = path.relative(process.cwd(), __filename)
    assert.equal(lines[0], 'core.handleMap  live=26  inserts=29  removes=3  expired=0  oldest=41.2 s  SUSPECT')
    const leakLine = new RegExp(`^ {2}25 live \\(25 in, 0 out\\)  oldest 41\\.2 s  leakyInsert \\(${escapeRegExp(file)}:${lineOf('leakyInsert')}:\\d+\\)$`)
    assert.match(lines[1], leakLine)
    assert.equal(lines[2], '       inserted but never removed')
    // A site with removes shows how long its entries lived (here 0 ms: the clock stood still).
    const cleanLine = new RegExp(`^ {2}1 live \\(4 in, 3 out\\)  oldest 41\\.2 s  lifetime p50 0 ms p99 0 ms max 0 ms  cleanInsert \\(${escapeRegExp(file)}:${lineOf('cleanInsert')}:\\d+\\)$`)
    assert.match(lines[3], cleanLine)
    assert.match(lines[4], new RegExp(`^ {7}removed at removeX \\(${escapeRegExp(file)}:${lineOf('removeX')}:\\d+\\) {2}~?3$`))
    assert.equal(lines.length, 6)
    assert.equal(lines[5], '')
    // A registry report renders the same block.
    assert.ok(formatReport(registry.report({ map: 'core.handleMap' })).includes(lines[1]))

    // Once every site has had removes, nothing is suspect.
    removeX(map, 'ok3')
    for (let i = 0; i < 25; i++) removeY(map, 'leak' + i)
    const after = formatReport(registry.report({ map: 'core.handleMap' })).split('\n')
    assert.equal(after[0], 'core.handleMap  live=0  inserts=29  removes=29  expired=0  oldest=-')
    assert.ok(!after.some(line => line.includes('never removed')))
  } finally {
    map.close()
  }
})

test('formatReport: only-expired sites, control characters and maps of other sizes', () => {
  let now = 0
  const map = new HandleMap({ name: 'report.format.expired', ttl: 1000, clock: () => now, strict: false })
  try {
    for (let i = 0; i < 4; i++) expiringInsert(map, i, i)
    now = 2000
    map.purgeExpired()
    const text = formatReport(map.report())
    assert.match(text.split('\n')[0], /^report\.format\.expired {2}live=0 {2}inserts=4 {2}removes=0 {2}expired=4 {2}oldest=- {2}SUSPECT$/)
    assert.match(text, /\n {2}0 live \(4 in, 0 out, 4 expired\) {2}oldest - {2}expiringInsert \(/)
    assert.match(text, /\n {7}entries only ever expire \(4 expired\), never removed\n/)
    assert.throws(() => formatReport(null), TypeError)
    // An array of map reports renders as blocks separated by a blank line.
    const two = formatReport([map.report(), map.report()])
    assert.equal(two.split('\n\n').length, 2)
  } finally {
    map.close()
  }
})
