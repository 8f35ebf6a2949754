'use strict'
// Control: long polls. Each GET /poll waits in `waiters` until an event on its
// channel (events come at random, one per channel every 6 s on average) or
// 20 s pass; a client that goes away takes its waiter with it. 150 clients
// poll again as soon as they are answered. Nothing here leaks, but every
// entry lives for seconds.

const http = require('node:http')
const { HandleMap } = require('../../../..')
const { serve, query } = require('../io.js')
const { drain } = require('../load.js')

const CHANNELS = 30
const EVENT_EVERY_MS = 6_000
const POLL_TIMEOUT_MS = 20_000
const CLIENTS = 150

async function start () {
  const waiters = new HandleMap({ name: 'zoo.poll-waiters' })
  const byChannel = Array.from({ length: CHANNELS }, () => new Set())
  let lastId = 0

  function answer (id, status, body) {
    const waiter = waiters.get(id)
    if (!waiter) return
    waiters.delete(id)
    byChannel[waiter.channel].delete(id)
    clearTimeout(waiter.timer)
    waiter.res.statusCode = status
    waiter.res.end(body)
  }
  // The event source: each channel's events arrive at exponential gaps.
  const sources = byChannel.map((_, channel) => {
    const source = { timer: null }
    const next = () => {
      source.timer = setTimeout(() => {
        for (const id of [...byChannel[channel]]) answer(id, 200, `event on ${channel}`)
        next()
      }, -Math.log(1 - Math.random()) * EVENT_EVERY_MS)
    }
    next()
    return source
  })

  const service = await serve({
    '/poll': (req, res) => {
      const id = ++lastId
      const channel = Number(query(req, 'channel')) % CHANNELS
      const timer = setTimeout(() => answer(id, 204, ''), POLL_TIMEOUT_MS)
      waiters.set(id, { channel, res, timer })
      byChannel[channel].add(id)
      res.once('close', () => answer(id, 499, ''))
    }
  })

  // The clients: each polls its channel again as soon as it is answered.
  function load (seconds) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
    const counts = { sent: 0, answered: 0, failed: 0, skipped: 0 }
    let open = 0
    const deadline = performance.now() + seconds * 1000
    function poll (client) {
      if (performance.now() >= deadline) return
      counts.sent++
      open++
      const req = http.get(`${service.url}/poll?channel=${client % CHANNELS}`, { agent }, res => {
        res.resume()
        res.on('end', () => { counts.answered++; open--; poll(client) })
      })
      req.on('error', () => { counts.failed++; open-- })
    }
    // Clients arrive over the first second, not all at once.
    for (let client = 0; client < CLIENTS; client++) setTimeout(() => poll(client), Math.random() * 1000)
    return drain(() => performance.now() >= deadline, seconds * 1000 + 100).then(() => {
      agent.destroy() // the clients go away mid-poll
      return drain(() => open === 0, 2_000)
    }).then(() => counts)
  }

  return {
    load,
    async close () {
      for (const source of sources) clearTimeout(source.timer)
      await service.close()
    }
  }
}

module.exports = { kind: 'control', what: 'long polls (up to 20 s)', p99Ms: 20_000, seconds: { bench: 45, test: 20 }, start }
