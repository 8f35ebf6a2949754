'use strict'
// A Koa middleware: `app.use(handleLedgerKoa({ path, ...debugHandles options }))`.
// Requests to `path` are answered from node's raw request and response
// (ctx.respond = false); every other request goes on down the stack.

const { debugHandles } = require('../debug-handles.js')
const { splitMountOptions } = require('./mount-options.js')

function handleLedgerKoa (options) {
  const { path, handlerOptions } = splitMountOptions(options, 'handleLedgerKoa')
  const handler = debugHandles(handlerOptions)
  return async function handleLedgerMiddleware (ctx, next) {
    if (ctx.path !== path) return next()
    ctx.respond = false // the handler writes ctx.res itself
    await handler(ctx.req, ctx.res)
  }
}

module.exports = { handleLedgerKoa }
