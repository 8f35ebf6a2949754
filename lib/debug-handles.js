'use strict'
// STUB (issue 4 replaces this): the /debug/handles request handler.
const { registry } = require('./registry.js')

function debugHandles (options = {}) {
  return function handleDebugHandles (req, res) {
    const body = JSON.stringify(registry.report())
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
    res.end(body)
  }
}

module.exports = { debugHandles }
