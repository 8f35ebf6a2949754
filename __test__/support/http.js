'use strict'
// A real HTTP server on a free loopback port, closed with its connections.

const http = require('node:http')
const { once } = require('node:events')

async function listen (handler) {
  const server = http.createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    async close () {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}

module.exports = { listen }
