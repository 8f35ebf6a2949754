'use strict'
// diagnostics_channel publication, for APM agents and in-house tooling.
//
// Channels (message shapes in docs/reference.md):
//   handle-ledger:expire   one message per entry the TTL expired
//   handle-ledger:suspect  a site a report marks suspect, once per site of each map
//
// Nothing here is on the set/get/delete path: messages are built at expiry
// hand-over (the map's timer) and at report time, and only when
// `channel.hasSubscribers` says someone listens; unsubscribed, a whole
// expiry batch pays one property read.

const diagnosticsChannel = require('node:diagnostics_channel')

const expireChannel = diagnosticsChannel.channel('handle-ledger:expire')
const suspectChannel = diagnosticsChannel.channel('handle-ledger:suspect')

// The (map id, site) pairs already published as suspect. Bounded: past the
// cap it starts over, so a site may be published again, never lost.
const MAX_SUSPECTS_REMEMBERED = 10_000
const publishedSuspects = new Set()

/** `handle-ledger:expire`: `{ map, mapId, key, value, ageMs, site, stack }` per expired entry. */
function publishExpired (mapName, mapId, entries) {
  for (const entry of entries) {
    expireChannel.publish({ map: mapName, mapId, key: entry.key, value: entry.value, ageMs: entry.ageMs, site: entry.site, stack: entry.stack })
  }
}

/**
 * `handle-ledger:suspect`: `{ map, mapId, threadId, site, stack, live, oldestAgeMs, reason }`
 * for each suspect site of `maps` (MapReports) not published before.
 */
function publishSuspects (maps) {
  if (!suspectChannel.hasSubscribers) return
  for (const map of maps) {
    for (const site of map.sites || []) {
      if (site.suspect) publishSuspect(map, site)
    }
  }
}

function publishSuspect (map, site) {
  const key = `${map.id}\u0000${site.site}`
  if (publishedSuspects.has(key)) return
  if (publishedSuspects.size >= MAX_SUSPECTS_REMEMBERED) publishedSuspects.clear()
  publishedSuspects.add(key)
  suspectChannel.publish({
    map: map.name,
    mapId: map.id,
    threadId: map.threadId,
    site: site.site,
    stack: site.stack,
    live: site.live,
    oldestAgeMs: site.oldestAgeMs ?? null,
    reason: site.reason
  })
}

module.exports = { expireChannel, publishExpired, publishSuspects }
