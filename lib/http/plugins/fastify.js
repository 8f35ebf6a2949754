'use strict'
// A Fastify plugin: `fastify.register(handleLedgerFastify, { path, ...debugHandles options })`.
//
// Encapsulated on purpose (no `skip-override`): a route plugin needs nothing
// from its parent's scope, and encapsulation is what makes Fastify's own
// register options work, `prefix` above all. It carries the metadata
// fastify-plugin would add (name, supported Fastify versions) so Fastify
// checks the version and names the plugin in its errors, without depending
// on fastify-plugin.

const { debugHandles } = require('../debug-handles.js')
const { splitMountOptions } = require('./mount-options.js')

async function handleLedgerFastify (fastify, options) {
  // Fastify passes its own register options (prefix, logLevel...) along with ours.
  const { prefix, logLevel, logSerializers, ...own } = options || {}
  const { path, handlerOptions } = splitMountOptions(own, 'handleLedgerFastify')
  const handler = debugHandles(handlerOptions)
  fastify.route({
    method: ['GET', 'HEAD'],
    url: path,
    // The handler writes the raw response (node's http.ServerResponse) itself.
    handler (request, reply) {
      reply.hijack()
      return handler(request.raw, reply.raw)
    }
  })
}

handleLedgerFastify[Symbol.for('plugin-meta')] = { name: 'handle-ledger', fastify: '4.x || 5.x' }
handleLedgerFastify[Symbol.for('fastify.display-name')] = 'handle-ledger'

module.exports = { handleLedgerFastify }
