'use strict'
// This thread's live maps, so a report can flush them first. HandleMap adds
// and deletes its WeakRef here; the report layer reads the set through
// flushThisThread() and localMapsById(). Held weakly: a map dropped without
// close() is collected, and its ref is dropped at the next flush.

const { isMainThread } = require('node:worker_threads')
const { internals } = require('./internals.js')

const liveMaps = new Set()

/** This thread's live maps by registry id: one pass, however many maps a report covers. */
function localMapsById () {
  const byId = new Map()
  for (const ref of liveMaps) {
    const map = ref.deref()
    if (map !== undefined) byId.set(internals.nativeLedger(map).id, map)
  }
  return byId
}

/** Drains the op logs of this thread's maps, so a report is current. */
function flushThisThread () {
  for (const ref of liveMaps) {
    const map = ref.deref()
    if (map === undefined) liveMaps.delete(ref)
    else internals.flush(map)
  }
}

// A worker that ends drains its maps first, so their last operations count
// (a map collected without close() is drained by its own finalizer).
if (!isMainThread) process.once('exit', flushThisThread)

module.exports = { liveMaps, localMapsById, flushThisThread }
