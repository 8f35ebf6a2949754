'use strict'
// A Fastify plugin: `fastify.register(handleLedgerFastify, { path, ...debugHandles options })`.
//
// Encapsulated on purpose (no `skip-override`): a route plugin needs nothing
// from its parent's scope, and encapsulation is what makes Fastify's own
// register options work, `prefix` above all. It carries the metadata
// fastify-plugin would add (name, supported Fastify versions) so Fastify
// checks the version and names the plugin in its errors, without depending
// on fastify-plugin.

const { checkOptions, createResponder, answerAsDefault } = require('../debug-handles.js')
const { frameworkCall } = require('../mount.js')

function isFastify (value) {
  return value !== null && typeof value === 'object' && typeof value.route === 'function' && typeof value.register === 'function'
}

// Not an async function: a call that is not Fastify registering the plugin
// throws where it is made, at mount time. Two parameters, so Fastify waits
// on the returned promise (a third would make it pass `done`).
function handleLedgerFastify (fastify, options) {
  if (isFastify(fastify)) return registerRoute(fastify, options)
  // fastify.get(path, handleLedgerFastify): a route handler, called with (request, reply).
  if (frameworkCall(...arguments) !== null) return answerAsDefault(arguments)
  throw new TypeError('handleLedgerFastify is a Fastify plugin: register it without calling it, fastify.register(handleLedgerFastify, { path, ...options })')
}

async function registerRoute (fastify, options) {
  // Fastify passes its own register options (prefix, logLevel...) along with ours.
  const { prefix, logLevel, logSerializers, ...own } = options || {}
  const settings = checkOptions(own, 'handleLedgerFastify')
  const respond = createResponder(settings)
  fastify.route({
    method: ['GET', 'HEAD'],
    url: settings.path,
    // The handler writes the raw response (node's http.ServerResponse) itself.
    handler (request, reply) {
      reply.hijack()
      return respond(request.raw, reply.raw)
    }
  })
}

handleLedgerFastify[Symbol.for('plugin-meta')] = { name: 'handle-ledger', fastify: '4.x || 5.x' }
handleLedgerFastify[Symbol.for('fastify.display-name')] = 'handle-ledger'

module.exports = { handleLedgerFastify }
