'use strict'
// handle-ledger: require('handle-ledger') gives a HandleMap that behaves like
// a Map and keeps a ledger (in Rust) of who inserted what and never removed it.
// Nothing is mounted, started or scheduled by require().
const { HandleMap } = require('./lib/map/handle-map.js')
const { registry } = require('./lib/report/registry.js')
const { formatReport } = require('./lib/shared/format.js')
const { HandleLeakError, leakCheck } = require('./lib/report/assertions.js')
const { debugHandles } = require('./lib/http/debug-handles.js')
const { registerMetrics } = require('./lib/http/prometheus.js')
const { registerOpenTelemetry } = require('./lib/http/otel.js')
const { handleLedgerFastify } = require('./lib/http/plugins/fastify.js')
const { handleLedgerKoa } = require('./lib/http/plugins/koa.js')
const { handleLedgerExpress } = require('./lib/http/plugins/express.js')
const { instrument, uninstrument } = require('./lib/map/instrument.js')
const { setAppFrame } = require('./lib/map/app-frame.js')

module.exports = {
  HandleMap,
  registry,
  formatReport,
  HandleLeakError,
  leakCheck,
  debugHandles,
  registerMetrics,
  registerOpenTelemetry,
  handleLedgerFastify,
  handleLedgerKoa,
  handleLedgerExpress,
  instrument,
  uninstrument,
  setAppFrame
}
