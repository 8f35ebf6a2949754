'use strict'
// An Express router (Express 4 and 5, and connect): `app.use(handleLedgerExpress({ path, ...debugHandles options }))`,
// or under a mount path: `app.use('/ops', handleLedgerExpress())` answers /ops/debug/handles.
// It is a plain middleware function, so handle-ledger does not depend on
// Express: requests to `path` are answered, every other request is passed
// on with next().

const { debugHandles } = require('../debug-handles.js')
const { splitMountOptions, pathOf } = require('./mount-options.js')

function handleLedgerExpress (options) {
  const { path, handlerOptions } = splitMountOptions(options, 'handleLedgerExpress')
  const handler = debugHandles(handlerOptions)
  return function handleLedgerRouter (req, res, next) {
    // req.url is relative to the mount path under app.use('/prefix', ...).
    if (pathOf(req.url || '/') !== path) return next()
    // The handler answers every request it gets (405 for other methods, as on node:http).
    handler(req, res).catch(next)
  }
}

module.exports = { handleLedgerExpress }
