'use strict'
// Bounded, self-stopping load over loopback. Open loop: requests leave at the
// rate asked (a function of the time since the start), whatever the service's
// latency, as users arrive; a slow call does not hold the next one back. At
// the end the load waits for the calls still out (up to `drainMs`), then
// closes its sockets.

const http = require('node:http')

const TICK_MS = 10

/**
 * Sends GET url + path(i, t) at rate(t) requests per second (t in seconds
 * since the start) for `seconds`, at most `maxInFlight` at a time.
 * Resolves with `{ sent, answered, failed, skipped }`.
 */
function drive ({ url, seconds, rate, path, maxInFlight = 1_000, drainMs = 35_000 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight })
  const counts = { sent: 0, answered: 0, failed: 0, skipped: 0 }
  let inFlight = 0
  let owed = 0
  const started = performance.now()
  let last = started

  function send () {
    if (inFlight >= maxInFlight) {
      counts.skipped++
      return
    }
    const t = (performance.now() - started) / 1000
    inFlight++
    counts.sent++
    let ended = false
    const end = outcome => {
      if (ended) return
      ended = true
      counts[outcome]++
      inFlight--
    }
    const req = http.get(url + path(counts.sent, t), { agent }, res => {
      res.resume()
      res.on('end', () => end('answered'))
      res.on('error', () => end('failed'))
    })
    req.on('error', () => end('failed'))
  }

  return new Promise(resolve => {
    const timer = setInterval(() => {
      const now = performance.now()
      const t = (now - started) / 1000
      if (t >= seconds) {
        clearInterval(timer)
        drain(() => inFlight === 0, drainMs).then(() => {
          agent.destroy()
          resolve(counts)
        })
        return
      }
      owed += rate(t) * (now - last) / 1000
      last = now
      for (; owed >= 1; owed--) send()
    }, TICK_MS)
  })
}

/** Resolves once `done()` or after `ms`. */
/**
 * What a shape's start() returns for a service that calls an upstream:
 * load(seconds) drives it at rate(t, seconds) requests per second on
 * path(i), and close() stops the service, the upstream and the agent.
 */
function upstreamService ({ service, upstream, agent, rate = () => 150, path }) {
  return {
    load: seconds => drive({ url: service.url, seconds, rate: t => rate(t, seconds), path }),
    async close () {
      await service.close()
      await upstream.close()
      agent.destroy()
    }
  }
}

function drain (done, ms) {
  const deadline = performance.now() + ms
  return new Promise(resolve => {
    const check = () => (done() || performance.now() > deadline ? resolve() : setTimeout(check, 20))
    check()
  })
}

module.exports = { drive, drain, upstreamService }
