'use strict'
// handle-ledger: require('handle-ledger') gives a HandleMap that behaves like
// a Map and keeps a ledger (in Rust) of who inserted what and never removed it.
const { HandleMap } = require('./lib/handle-map.js')
const { registry } = require('./lib/registry.js')

module.exports = { HandleMap, registry }
