'use strict'
// handle-ledger/metrics: the maps' figures for a metrics pipeline already in
// place (a prom-client registry, an OpenTelemetry meter).
const { registerMetrics } = require('./lib/http/prometheus.js')
const { registerOpenTelemetry } = require('./lib/http/otel.js')

module.exports = { registerMetrics, registerOpenTelemetry }
