'use strict'
// An Express router (Express 4 and 5, and connect): `app.use(handleLedgerExpress({ path, ...debugHandles options }))`,
// or under a mount path: `app.use('/ops', handleLedgerExpress())` answers /ops/debug/handles.
// It is a plain middleware function, so handle-ledger does not depend on
// Express: requests to `path` are answered, every other request is passed
// on with next().

const { checkOptions, createResponder, answerAsDefault } = require('../debug-handles.js')
const { frameworkCall, pathOf } = require('../mount.js')

function handleLedgerExpress (options) {
  // app.use(handleLedgerExpress), not called: Express calls it with (req, res, next).
  if (frameworkCall(...arguments) !== null) return answerAsDefault(arguments)
  const settings = checkOptions(options, 'handleLedgerExpress')
  const respond = createResponder(settings)
  return function handleLedgerRouter (req, res, next) {
    // req.url is relative to the mount path under app.use('/prefix', ...).
    if (pathOf(req.url || '/') !== settings.path) return next()
    // The handler answers every request it gets (405 for other methods, as on node:http).
    respond(req, res).catch(next)
  }
}

module.exports = { handleLedgerExpress }
