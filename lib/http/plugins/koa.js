'use strict'
// A Koa middleware: `app.use(handleLedgerKoa({ path, ...debugHandles options }))`.
// Requests to `path` are answered from node's raw request and response
// (ctx.respond = false); every other request goes on down the stack.

const { checkOptions, createResponder, answerAsDefault } = require('../debug-handles.js')
const { frameworkCall } = require('../mount.js')

function handleLedgerKoa (options) {
  // app.use(handleLedgerKoa), not called: Koa calls it with (ctx, next).
  if (frameworkCall(...arguments) !== null) return answerAsDefault(arguments)
  const settings = checkOptions(options, 'handleLedgerKoa')
  const respond = createResponder(settings)
  return async function handleLedgerMiddleware (ctx, next) {
    if (ctx.path !== settings.path) return next()
    ctx.respond = false // the handler writes ctx.res itself
    await respond(ctx.req, ctx.res)
  }
}

module.exports = { handleLedgerKoa }
