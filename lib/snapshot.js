'use strict'
// Snapshots of the registry and what changed between two of them, per map and
// per site, sorted by growth (as Python's tracemalloc Snapshot.compare_to).

const FIGURES = ['live', 'inserts', 'removes', 'expired']

class Snapshot {
  constructor (pid, at, maps) {
    this.kind = 'snapshot'
    this.schemaVersion = 2
    this.pid = pid
    this.at = at
    this.maps = maps
  }

  /** What changed from `older` to this snapshot. */
  diff (older) {
    return diff(older, this)
  }
}

function deltas (now, before) {
  const out = {}
  for (const figure of FIGURES) out[`${figure}Delta`] = (now ? now[figure] : 0) - (before ? before[figure] : 0)
  return out
}

function diffSites (now, before) {
  const older = new Map((before ? before.sites : []).map(site => [site.site, site]))
  const sites = (now ? now.sites : []).map(site => {
    const previous = older.get(site.site)
    older.delete(site.site)
    return { site: site.site, stack: site.stack, appFrame: site.appFrame, inDependency: site.inDependency, live: site.live, ...deltas(site, previous), suspect: site.suspect, reason: site.reason }
  })
  // Sites gone from the newer snapshot (their map was closed): everything left.
  for (const gone of older.values()) sites.push({ site: gone.site, stack: gone.stack, live: 0, ...deltas(null, gone), suspect: false, reason: null })
  return sites
    .filter(site => FIGURES.some(figure => site[`${figure}Delta`] !== 0))
    .sort((a, b) => b.liveDelta - a.liveDelta || b.insertsDelta - a.insertsDelta)
}

function checkSnapshot (value, which) {
  if (value === null || typeof value !== 'object' || !Array.isArray(value.maps) || typeof value.at !== 'number') {
    throw new TypeError(`registry.diff(older, newer): ${which} must be a snapshot from registry.snapshot()`)
  }
}

/**
 * `{ kind: 'diff', from, to, durationMs, maps: [...] }`, maps and sites by growth.
 * Map figures are exact; site figures of an `estimated` map are scaled from
 * samples, so their deltas are estimates too.
 */
function diff (older, newer) {
  checkSnapshot(older, 'older')
  checkSnapshot(newer, 'newer')
  const before = new Map(older.maps.map(map => [map.id, map]))
  const maps = newer.maps.map(map => {
    const previous = before.get(map.id)
    before.delete(map.id)
    const estimated = Boolean(map.estimated || (previous && previous.estimated))
    return { id: map.id, name: map.name, threadId: map.threadId, live: map.live, estimated, ...deltas(map, previous), sites: diffSites(map, previous) }
  })
  for (const gone of before.values()) {
    maps.push({ id: gone.id, name: gone.name, threadId: gone.threadId, live: 0, estimated: Boolean(gone.estimated), closed: true, ...deltas(null, gone), sites: diffSites(null, gone) })
  }
  maps.sort((a, b) => b.liveDelta - a.liveDelta || b.insertsDelta - a.insertsDelta)
  return { kind: 'diff', from: older.at, to: newer.at, durationMs: newer.at - older.at, maps }
}

module.exports = { Snapshot, diff }
