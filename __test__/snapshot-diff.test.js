'use strict'
// registry.snapshot(), registry.diff(older, newer) and
// snapshot.diff(older): what grew between two snapshots, per map and per
// site, sorted by growth (as tracemalloc's Snapshot.compare_to).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { HandleMap, registry, formatReport } = require('..')
// The map's native ledger (internal: not exported from index.js).
const nativeLedgerOf = require('../lib/map/handle-map.js').internals.nativeLedger

const { markerLines, escapeRegExp } = require('./support/source.js')

const lineOf = markerLines(__filename)

function siteRe (fn, file = __filename) {
  return new RegExp(`^${escapeRegExp(fn)} \\(${escapeRegExp(file)}:${lineOf(fn)}:\\d+\\)$`)
}

function openRequest (map, key) { map.set(key, { key }) } // @openRequest
function openSession (map, key) { map.set(key, { key }) } // @openSession
function openStream (map, key) { map.set(key, { key }) } // @openStream
function closeAny (map, key) { map.delete(key) } // @closeAny
function cacheEntry (map, key) { map.set(key, { key }) } // @cacheEntry

/** The diff's maps of this test only (the registry is process-wide). */
function mine (difference, prefix) {
  return difference.maps.filter(map => map.name.startsWith(prefix))
}

test('registry.diff: growth per map and per site, sorted by growth', () => {
  const requests = new HandleMap({ name: 'diff.requests', strict: false })
  const sessions = new HandleMap({ name: 'diff.sessions', strict: false })
  const quiet = new HandleMap({ name: 'diff.quiet', strict: false })
  try {
    // Before: some history, so deltas are not just totals.
    for (let i = 0; i < 10; i++) openRequest(requests, 'r' + i)
    for (let i = 0; i < 5; i++) closeAny(requests, 'r' + i)
    for (let i = 0; i < 4; i++) openSession(sessions, 's' + i)
    for (let i = 0; i < 3; i++) cacheEntry(quiet, 'q' + i)

    const older = registry.snapshot()
    assert.equal(older.kind, 'snapshot')
    assert.equal(older.pid, process.pid)
    assert.equal(typeof older.at, 'number')
    // A snapshot has every site: no limit applies.
    assert.ok(older.maps.every(map => map.sitesOmitted === 0))

    // "While I sent these requests": requests leak at openRequest (+30) and
    // openStream (+12); sessions shrink by 3; quiet does not change.
    for (let i = 10; i < 50; i++) openRequest(requests, 'r' + i)
    for (let i = 10; i < 20; i++) closeAny(requests, 'r' + i)
    for (let i = 0; i < 12; i++) openStream(requests, 'st' + i)
    for (let i = 0; i < 3; i++) closeAny(sessions, 's' + i)
    openSession(sessions, 'x')
    closeAny(sessions, 'x')

    // judged at any age (outlierFloorMs 0): these entries are milliseconds old
    const newer = registry.snapshot({ outlierFloorMs: 0 })
    const difference = registry.diff(older, newer)
    assert.equal(difference.kind, 'diff')
    assert.equal(difference.from, older.at)
    assert.equal(difference.to, newer.at)
    assert.equal(difference.durationMs, newer.at - older.at)

    const maps = mine(difference, 'diff.')
    assert.deepEqual(maps.map(m => m.name), ['diff.requests', 'diff.quiet', 'diff.sessions'])
    // Sorted by growth across the whole diff, not only among this test's maps.
    for (let i = 1; i < difference.maps.length; i++) {
      assert.ok(difference.maps[i - 1].liveDelta >= difference.maps[i].liveDelta)
    }

    const [req, q, ses] = maps
    assert.equal(req.id, nativeLedgerOf(requests).id)
    assert.equal(req.estimated, false, "'all' mode: exact site deltas")
    assert.deepEqual(
      [req.live, req.liveDelta, req.insertsDelta, req.removesDelta, req.expiredDelta],
      [47, 42, 52, 10, 0]
    )
    assert.deepEqual(req.sites.map(s => [s.liveDelta, s.insertsDelta, s.removesDelta, s.live]), [[30, 40, 10, 35], [12, 12, 0, 12]])
    assert.match(req.sites[0].site, siteRe('openRequest'))
    assert.match(req.sites[1].site, siteRe('openStream'))
    assert.equal(req.sites[1].suspect, true, 'a site never removed stays flagged in the diff')
    assert.equal(req.sites[0].suspect, false)
    assert.ok(Array.isArray(req.sites[0].stack) && req.sites[0].stack[0] === req.sites[0].site)

    assert.deepEqual([q.live, q.liveDelta, q.insertsDelta, q.sites.length], [3, 0, 0, 0], 'unchanged sites are left out')
    assert.deepEqual([ses.live, ses.liveDelta, ses.insertsDelta, ses.removesDelta], [1, -3, 1, 4])
    assert.deepEqual(ses.sites.map(s => [s.liveDelta, s.insertsDelta, s.removesDelta]), [[-3, 1, 4]])

    // snapshot.diff(older) is the same diff.
    assert.deepEqual(newer.diff(older), difference)
    // A snapshot survives JSON (stored to disk between runs) and still diffs.
    const stored = JSON.parse(JSON.stringify(older))
    assert.deepEqual(registry.diff(stored, newer), difference)
    assert.throws(() => registry.diff({}, newer), TypeError)
    assert.throws(() => registry.diff(older, null), TypeError)

    // Filtered snapshots.
    const onlyRequests = registry.snapshot({ map: 'diff.requests' })
    assert.deepEqual(onlyRequests.maps.map(m => m.name), ['diff.requests'])
  } finally {
    requests.close()
    sessions.close()
    quiet.close()
  }
})

test('registry.diff: a map closed between snapshots and a map created between them', () => {
  const closing = new HandleMap({ name: 'diff2.closing', strict: false })
  const staying = new HandleMap({ name: 'diff2.staying', strict: false })
  let created
  try {
    for (let i = 0; i < 6; i++) openRequest(closing, i)
    closeAny(closing, 0)
    openSession(staying, 1)
    const older = registry.snapshot()

    closing.close()
    created = new HandleMap({ name: 'diff2.created', strict: false })
    for (let i = 0; i < 2; i++) cacheEntry(created, i)
    const newer = registry.snapshot()
    assert.ok(!newer.maps.some(m => m.name === 'diff2.closing'), 'a closed map is not in a newer snapshot')

    const difference = newer.diff(older)
    const maps = mine(difference, 'diff2.')
    assert.deepEqual(maps.map(m => m.name), ['diff2.created', 'diff2.staying', 'diff2.closing'])
    const [made, same, gone] = maps
    assert.deepEqual([made.live, made.liveDelta, made.insertsDelta], [2, 2, 2])
    assert.equal(made.closed, undefined)
    assert.match(made.sites[0].site, siteRe('cacheEntry'))
    assert.deepEqual([same.liveDelta, same.sites.length], [0, 0])

    assert.equal(gone.closed, true)
    assert.equal(gone.live, 0)
    assert.deepEqual([gone.liveDelta, gone.insertsDelta, gone.removesDelta], [-5, -6, -1])
    assert.equal(gone.sites.length, 1)
    assert.match(gone.sites[0].site, siteRe('openRequest'))
    assert.deepEqual([gone.sites[0].live, gone.sites[0].liveDelta], [0, -5])

    const text = formatReport(difference)
    assert.ok(text.split('\n').some(line => line.startsWith('diff2.closing  live=0 (-5)') && line.includes('closed')), text)
  } finally {
    closing.close()
    staying.close()
    if (created) created.close()
  }
})

test('formatReport(diff): a title, a block per map and a line per site with signed deltas', () => {
  let now = 0
  // 'all': the rendered lines below are exact per-site figures.
  const map = new HandleMap({ name: 'diff3.render', clock: () => now, ttl: 100, callSites: 'all', strict: false })
  try {
    openSession(map, 'kept')
    const older = registry.snapshot({ map: 'diff3.render' })
    for (let i = 0; i < 2500; i++) openRequest(map, i)
    for (let i = 0; i < 3; i++) openStream(map, 's' + i)
    closeAny(map, 's0')
    now = 150
    map.purgeExpired()
    for (let i = 0; i < 7; i++) openStream(map, 'late' + i)
    const newer = registry.snapshot({ map: 'diff3.render' })
    const text = formatReport(newer.diff(older))
    const lines = text.split('\n')
    const file = path.relative(process.cwd(), __filename)
    assert.match(lines[0], /^handle-ledger diff over \d+( ms|\.\d s)$/)
    assert.equal(lines[1], '')
    assert.equal(lines[2], 'diff3.render  live=7 (+6)  inserts +2510  removes +1  expired +2503')
    assert.match(lines[3], new RegExp(`^ {2}\\+7 live \\(\\+10 in, \\+1 out, \\+2 expired\\) {2}now 7 live {2}openStream \\(${escapeRegExp(file)}:${lineOf('openStream')}:\\d+\\)$`))
    assert.match(lines[4], new RegExp(`^ {2}0 live \\(\\+2500 in, 0 out, \\+2500 expired\\) {2}now 0 live {2}openRequest \\(${escapeRegExp(file)}:${lineOf('openRequest')}:\\d+\\)$`))
    assert.equal(lines[5], '       entries only ever expire (2500 expired), never removed')
    assert.match(lines[6], / {2}-1 live \(0 in, 0 out, \+1 expired\) {2}now 0 live {2}openSession \(/)
    assert.equal(lines[7], '       entries only ever expire (1 expired), never removed')
    assert.equal(lines.length, 9)
    assert.equal(lines[8], '')
  } finally {
    map.close()
  }
})
