'use strict'
// handle-ledger: require('handle-ledger') gives a HandleMap that behaves like
// a Map and keeps a ledger (in Rust) of who inserted what and never removed it.
// Nothing is mounted, started or scheduled by require().
const { HandleMap } = require('./lib/handle-map.js')
const { registry } = require('./lib/registry.js')
const { formatReport } = require('./lib/format.js')
const { HandleLeakError, leakCheck } = require('./lib/assertions.js')
const { debugHandles } = require('./lib/debug-handles.js')
const { registerMetrics } = require('./lib/prometheus.js')
const { registerOpenTelemetry } = require('./lib/otel.js')
const { handleLedgerFastify } = require('./lib/plugins/fastify.js')
const { handleLedgerKoa } = require('./lib/plugins/koa.js')
const { handleLedgerExpress } = require('./lib/plugins/express.js')
const { instrument, uninstrument } = require('./lib/instrument.js')
const { setAppFrame } = require('./lib/app-frame.js')

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
