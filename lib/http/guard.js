'use strict'
// Who may read /debug/handles: the default rule (a loopback peer, no proxy
// headers, a loopback Host) that an `allow(req)` option replaces or extends.

const IPV4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
const LOOPBACK_IPV4 = new RegExp(`^127(?:\\.${IPV4_OCTET}){3}$`)

function isLoopbackAddress (address) {
  if (typeof address !== 'string') return false
  if (address === '::1' || address === '0:0:0:0:0:0:0:1') return true
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address
  return LOOPBACK_IPV4.test(v4)
}

// `localhost` and names under it (RFC 6761: they never leave the machine),
// with at most one trailing dot.
const LOOPBACK_NAME = /^(?:[a-z0-9-]+\.)*localhost\.?$/

/**
 * Whether a Host header names this machine: a loopback name or address, with
 * any port. A page served from another origin that reached a loopback server
 * through DNS rebinding still sends its own host name, and is refused.
 */
function isLoopbackHost (host) {
  if (typeof host !== 'string') return false
  const bracketed = /^\[([^\]]*)\](?::[0-9]*)?$/.exec(host)
  if (bracketed !== null) return isLoopbackAddress(bracketed[1])
  const name = /^([^:]*)(?::[0-9]*)?$/.exec(host)
  if (name === null) return false
  const lower = name[1].toLowerCase()
  return LOOPBACK_NAME.test(lower) || isLoopbackAddress(lower)
}

/**
 * The default rule: the peer is on loopback, no proxy relayed the request
 * (a reverse proxy on the same host connects over loopback on behalf of
 * remote clients; the forwarding headers it adds give it away), and the
 * request names this machine in its Host (HTTP/2: :authority), so a
 * browser page that reached the server through DNS rebinding is refused.
 */
function loopbackOnly (req) {
  const socket = req.socket || req.connection
  if (!socket || !isLoopbackAddress(socket.remoteAddress)) return false
  const headers = req.headers || {}
  if (headers.forwarded !== undefined || headers['x-forwarded-for'] !== undefined || headers['x-real-ip'] !== undefined) return false
  return isLoopbackHost(headers.host !== undefined ? headers.host : headers[':authority'])
}

module.exports = { loopbackOnly, isLoopbackAddress, isLoopbackHost }
