'use strict'
// The process-wide registry, read from JS: every live HandleMap of every
// thread. Maps of this thread are flushed first; maps of other threads are
// read as their last drain left them (at most their flushInterval old).

const native = require('../../binding.js')
const { flushThisThread, localMapsById } = require('../map/live-maps.js')
const { internals } = require('../map/internals.js')
const { reportOptions } = require('../shared/report-options.js')
const { Snapshot, diff, SCHEMA_VERSION } = require('./snapshot.js')
const { publishSuspects } = require('../map/channels.js')
const { annotateMaps } = require('../map/app-frame.js')

const ALL_SITES = 2 ** 32 - 1

const registry = {
  /** `{ pid, at, maps: MapReport[] }` for every registered map (see README). */
  report (options) {
    const { map, limit, oldest, includeKeys, ...rules } = reportOptions(options)
    flushThisThread()
    const maps = annotateMaps(native.registryReport({ map, limit, ...rules }))
    publishSuspects(maps) // diagnostics_channel: only when subscribed
    if (oldest > 0) {
      const localMaps = localMapsById()
      for (const report of maps) {
        const localMap = localMaps.get(report.id)
        if (localMap !== undefined) report.oldestEntries = internals.oldestEntries(localMap, oldest, includeKeys)
      }
    }
    return { kind: 'report', schemaVersion: SCHEMA_VERSION, pid: process.pid, at: Date.now(), maps }
  },

  /** Every map and every site, for `registry.diff()` (O(sites), not O(entries)). */
  snapshot (options) {
    const { map, limit, oldest, includeKeys, ...rules } = reportOptions(options)
    flushThisThread()
    // Without caller rows: a diff compares sites, and 1,000 callers would cost ~10 ms.
    return new Snapshot(process.pid, Date.now(), annotateMaps(native.registryReport({ map, limit: ALL_SITES, ...rules, callers: 0 })))
  },

  diff
}

module.exports = { registry }
