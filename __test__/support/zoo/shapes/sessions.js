'use strict'
// Control: a session map whose entries live for minutes. /login creates a
// session (idle TTL 15 minutes, renewed by each request), /logout ends it.
// Users log in at 10 per second, load the page at once, make a request every
// 2 s or so and log out after a lognormal time (median 40 s, a few within
// seconds, some after minutes). Nothing here leaks: a session still open at the end is a user
// still logged in.

const http = require('node:http')
const { randomUUID } = require('node:crypto')
const { HandleMap } = require('../../../..')
const { serve, get, query, lognormalMs } = require('../io.js')
const { drain } = require('../load.js')

const IDLE_TTL_MS = 15 * 60_000
const REQUEST_EVERY_MS = 2_000

async function start () {
  const sessions = new HandleMap({ name: 'zoo.sessions', ttl: IDLE_TTL_MS })

  const service = await serve({
    '/login': (req, res) => {
      const sid = randomUUID()
      sessions.set(sid, { user: query(req, 'user'), createdAt: Date.now() })
      res.end(sid)
    },
    '/api': (req, res) => {
      const sid = query(req, 'sid')
      if (!sessions.touch(sid)) {
        res.writeHead(401).end()
        return
      }
      res.end('ok')
    },
    '/logout': (req, res) => {
      sessions.delete(query(req, 'sid'))
      res.end('bye')
    }
  })

  function load (seconds) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
    const counts = { sent: 0, answered: 0, failed: 0, skipped: 0 }
    const timers = new Set()
    const started = performance.now()
    const later = (ms, fn) => {
      if (performance.now() + ms >= started + seconds * 1000) return // past the run: the user stays logged in
      const timer = setTimeout(() => { timers.delete(timer); fn() }, ms)
      timers.add(timer)
    }
    const call = path => {
      counts.sent++
      return get(agent, service.url + path).then(
        result => { counts.answered++; return result.body },
        () => { counts.failed++ })
    }
    function user (n) {
      call(`/login?user=u${n}`).then(sid => {
        if (!sid) return
        const logoutAt = performance.now() + lognormalMs(40_000, 1, 10 * 60_000)
        const browse = () => later(lognormalMs(REQUEST_EVERY_MS, 0.5), () => {
          if (performance.now() >= logoutAt) {
            call(`/logout?sid=${sid}`)
            return
          }
          call(`/api?sid=${sid}`).then(browse)
        })
        // The page after a login loads at once (its first /api call), then
        // the user browses at a request every few seconds.
        call(`/api?sid=${sid}`).then(browse)
      })
    }
    let users = 0
    const arrivals = setInterval(() => { // one login per 100 ms
      if (performance.now() - started >= seconds * 1000) return
      user(++users)
    }, 100)
    return drain(() => performance.now() - started >= seconds * 1000, seconds * 1000 + 100).then(() => {
      clearInterval(arrivals)
      for (const timer of timers) clearTimeout(timer)
      agent.destroy()
      return counts
    })
  }

  return { load, close: () => service.close() }
}

module.exports = { kind: 'control', what: 'sessions living minutes (ttl 15 min)', p99Ms: 600_000, seconds: { bench: 60, test: 20 }, start }
