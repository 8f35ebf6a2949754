'use strict'
// The process-wide registry, read from JS: every live HandleMap of every
// thread. Maps of this thread are flushed first; maps of other threads are
// read as their last drain left them (at most their flushInterval old).

const native = require('../binding.js')
const { flushThisThread } = require('./handle-map.js')
const { reportOptions } = require('./report-options.js')

const registry = {
  /** `{ pid, at, maps: MapReport[] }` for every registered map (see README). */
  report (options) {
    const { map, limit } = reportOptions(options)
    flushThisThread()
    return { pid: process.pid, at: Date.now(), maps: native.registryReport({ map, limit }) }
  }
}

module.exports = { registry }
