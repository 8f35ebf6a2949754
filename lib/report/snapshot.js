'use strict'
// Snapshots of the registry and what changed between two of them, per map and
// per site, sorted by growth (as Python's tracemalloc Snapshot.compare_to).

const { DIFF_FIGURES: FIGURES, fieldsOf } = require('./report-schema.js')
const { RULES, reasonOfRow } = require('../shared/verdicts.js')

// What a site's diff copies from the newer snapshot's site: the fields the
// schema gives both, except the verdict, which the diff makes anew.
const RECOMPUTED = new Set(['suspect', 'verdict', 'reason', 'held'])
const CARRIED_SITE_FIELDS = fieldsOf('siteDiff').filter(field => fieldsOf('siteReport').includes(field) && !RECOMPUTED.has(field))
// What diff() reads of an older site and map besides the figures: what pairs
// them with the newer ones (compactSnapshot keeps only these).
const SITE_IDENTITY = ['site', 'held']
const MAP_IDENTITY = ['id', 'name', 'threadId', 'estimated']
// The version of the saved JSON (reports, snapshots, diffs): a reader that
// finds a newer one refuses it rather than misreading it. Files without the
// field come from before it existed (version 1: same fields).
// Sites and callers gained `verdict` and `label` within version 2 (fields
// added; a reader of version 2 that knows neither reads `reason`).
const SCHEMA_VERSION = 2

class Snapshot {
  constructor (pid, at, maps) {
    this.kind = 'snapshot'
    this.schemaVersion = SCHEMA_VERSION
    this.pid = pid
    this.at = at
    this.maps = maps
  }

  /** What changed from `older` to this snapshot. */
  diff (older) {
    return diff(older, this)
  }
}

function pick (object, fields) {
  const out = {}
  for (const field of fields) out[field] = object[field]
  return out
}

function deltas (now, before) {
  const out = {}
  for (const figure of FIGURES) out[`${figure}Delta`] = (now ? now[figure] : 0) - (before ? before[figure] : 0)
  return out
}

// Growth over a window: live must grow by at least this many entries, and by
// this share of what was live at its start.
const MIN_GROWTH = 3
const MIN_GROWTH_SHARE = 0.1
// A site's lifetimes say what "normal" is only after this many removes (as
// the report's outlier rule), and an entry this many times its p99 is not.
const MIN_LIFETIMES = 20
const OUTLIER_FACTOR = 10
// Nor is any entry younger than this: a window of a few ms proves nothing.
const MIN_OLDEST_MS = 1000

/**
 * The growth rule of a diff: a site whose live count grew over the window
 * while its entries went on being removed, and whose oldest entry has lived
 * through the whole window and past the site's normal lifetime. A ramp in load
 * grows live too, but its entries stay young; a map of long sessions has a
 * long normal lifetime. Returns the verdict, or null.
 */
function growthVerdict (site, previous, durationMs) {
  if (!previous || site.held || !(durationMs > 0)) return null
  const grown = site.live - previous.live
  const removed = site.removes - previous.removes
  if (grown < Math.max(MIN_GROWTH, MIN_GROWTH_SHARE * previous.live) || removed <= 0) return null
  const oldest = site.oldestAgeMs
  if (typeof oldest !== 'number' || oldest < durationMs) return null
  // Without enough lifetimes, slow calls cannot be told from lost ones.
  const lifetime = site.lifetime
  if (!lifetime || lifetime.count < MIN_LIFETIMES) return null
  const normal = lifetime.p99Ms
  if (oldest <= Math.max(OUTLIER_FACTOR * normal, MIN_OLDEST_MS)) return null
  return {
    rule: RULES.GROWTH,
    scope: 'site',
    grown,
    from: previous.live,
    to: site.live,
    windowMs: durationMs,
    removed,
    oldestMs: oldest,
    p99Ms: normal,
    estimated: Boolean(site.estimated)
  }
}

function diffSites (now, before, durationMs) {
  // A line's held inserts and its plain sets are two sites.
  const keyOf = site => site.held ? `held ${site.site}` : site.site
  const older = new Map((before ? before.sites : []).map(site => [keyOf(site), site]))
  const sites = (now ? now.sites : []).map(site => {
    const previous = older.get(keyOf(site))
    older.delete(keyOf(site))
    const growth = growthVerdict(site, previous, durationMs)
    const suspect = Boolean(site.suspect) || growth !== null
    const verdict = site.suspect ? (site.verdict ?? null) : growth
    const row = { ...pick(site, CARRIED_SITE_FIELDS), label: site.label ?? null, ...deltas(site, previous), suspect, verdict, reason: null, growth: growth !== null, held: Boolean(site.held) }
    // A saved snapshot of a version that wrote no verdicts keeps its words.
    row.reason = suspect ? reasonOfRow(verdict === null ? site : row, row.label) : null
    return row
  })
  // Sites gone from the newer snapshot (their map was closed): everything left.
  for (const gone of older.values()) sites.push({ site: gone.site, stack: gone.stack || [], label: null, live: 0, ...deltas(null, gone), suspect: false, verdict: null, reason: null, growth: false, held: Boolean(gone.held) })
  return sites
    .filter(site => FIGURES.some(figure => site[`${figure}Delta`] !== 0))
    .sort((a, b) => b.liveDelta - a.liveDelta || b.insertsDelta - a.insertsDelta)
}

// Classes, not literals filled field by field: V8 sizes a class's objects to
// the fields its constructor stores, so each compact object keeps its fields
// inline (a literal grown past four fields gets a second allocation, and a
// pending ?seconds=N holds thousands of these).
const COMPACT_SITE_FIELDS = [...SITE_IDENTITY, ...FIGURES]
const COMPACT_MAP_FIELDS = [...MAP_IDENTITY, ...FIGURES]

class CompactSite {
  constructor (site) {
    for (const field of COMPACT_SITE_FIELDS) this[field] = site[field]
  }
}

class CompactMap {
  constructor (map) {
    for (const field of COMPACT_MAP_FIELDS) this[field] = map[field]
    this.sites = map.sites.map(site => new CompactSite(site))
  }
}

function compactMap (map) {
  return new CompactMap(map)
}

/**
 * What diff() reads of an older snapshot and nothing else: per map and per
 * site the figures and the site text, without stacks, remove sites or
 * reasons (most of a full snapshot's memory). A ?seconds=N request holds one
 * while it waits. Sites gone by the newer snapshot (a closed map) come out of
 * the diff without their stack.
 */
function compactSnapshot (snapshot) {
  return new Snapshot(snapshot.pid, snapshot.at, snapshot.maps.map(compactMap))
}

function checkSnapshot (value, which) {
  if (value === null || typeof value !== 'object' || !Array.isArray(value.maps) || typeof value.at !== 'number') {
    throw new TypeError(`registry.diff(older, newer): ${which} must be a snapshot from registry.snapshot()`)
  }
  if (value.schemaVersion !== undefined && !(Number.isInteger(value.schemaVersion) && value.schemaVersion >= 1 && value.schemaVersion <= SCHEMA_VERSION)) {
    throw new RangeError(`registry.diff(older, newer): ${which} has schemaVersion ${JSON.stringify(value.schemaVersion)}; this handle-ledger reads 1 to ${SCHEMA_VERSION}`)
  }
}

// Map ids are per process: snapshots of one process pair maps by id; of two
// processes (a saved file against a restarted server) by name, thread and
// order among maps of that name.
function mapKeys (snapshot, byId) {
  const seen = new Map()
  return snapshot.maps.map(map => {
    if (byId) return map.id
    const base = `${map.name}\u0000${map.threadId}`
    const index = seen.get(base) || 0
    seen.set(base, index + 1)
    return `${base}\u0000${index}`
  })
}

/**
 * `{ kind: 'diff', from, to, durationMs, maps: [...] }`, maps and sites by growth.
 * Map figures are exact; site figures of an `estimated` map are scaled from
 * samples, so their deltas are estimates too.
 */
function diff (older, newer) {
  checkSnapshot(older, 'older')
  checkSnapshot(newer, 'newer')
  const byId = older.pid === newer.pid
  const olderKeys = mapKeys(older, byId)
  const newerKeys = mapKeys(newer, byId)
  const before = new Map(older.maps.map((map, i) => [olderKeys[i], map]))
  const maps = newer.maps.map((map, i) => {
    const previous = before.get(newerKeys[i])
    before.delete(newerKeys[i])
    const estimated = Boolean(map.estimated || (previous && previous.estimated))
    return { id: map.id, name: map.name, threadId: map.threadId, live: map.live, estimated, ...deltas(map, previous), sites: diffSites(map, previous, newer.at - older.at) }
  })
  for (const gone of before.values()) {
    maps.push({ id: gone.id, name: gone.name, threadId: gone.threadId, live: 0, estimated: Boolean(gone.estimated), closed: true, ...deltas(null, gone), sites: diffSites(null, gone, newer.at - older.at) })
  }
  maps.sort((a, b) => b.liveDelta - a.liveDelta || b.insertsDelta - a.insertsDelta)
  return { kind: 'diff', schemaVersion: SCHEMA_VERSION, from: older.at, to: newer.at, durationMs: newer.at - older.at, maps }
}

module.exports = { Snapshot, diff, compactSnapshot, SCHEMA_VERSION }
