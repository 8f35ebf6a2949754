'use strict'
// handle-ledger/http: the /debug/handles route and its framework mounts.
// Nothing is mounted by require(): the app mounts what it wants, where.
const { debugHandles } = require('./lib/http/debug-handles.js')
const { handleLedgerExpress } = require('./lib/http/plugins/express.js')
const { handleLedgerKoa } = require('./lib/http/plugins/koa.js')
const { handleLedgerFastify } = require('./lib/http/plugins/fastify.js')

module.exports = { debugHandles, handleLedgerExpress, handleLedgerKoa, handleLedgerFastify }
