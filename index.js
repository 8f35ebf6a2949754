'use strict'
// handle-ledger: require('handle-ledger') gives a HandleMap that behaves like
// a Map and keeps a ledger (in Rust) of who inserted what and never removed it,
// and the API that reads that ledger. The route and its framework mounts are
// in handle-ledger/http, the metrics exporters in handle-ledger/metrics.
// Nothing is mounted, started or scheduled by require().
const { HandleMap } = require('./lib/map/handle-map.js')
const { registry } = require('./lib/report/registry.js')
const { formatReport } = require('./lib/shared/format.js')
const { HandleLeakError, leakCheck } = require('./lib/report/assertions.js')
const { instrument, uninstrument } = require('./lib/map/instrument.js')
const { setAppFrame } = require('./lib/map/app-frame.js')

module.exports = {
  HandleMap,
  registry,
  formatReport,
  HandleLeakError,
  leakCheck,
  instrument,
  uninstrument,
  setAppFrame
}
