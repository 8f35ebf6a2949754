'use strict'
// Leak: a hold() caller that never settles. runJob() holds each job's context
// while its work runs (hold() removes it when the work settles). The /export
// route's work waits for an event the worker never emits ('done:' where the
// worker says 'ack:'), so its holds never end. The line to fix is /export's.

const { once, EventEmitter } = require('node:events')
const { HandleMap } = require('../../../..')
const { serve, startUpstream, get, keepAliveAgent, lognormalMs, delay } = require('../io.js')
const { upstreamService } = require('../load.js')

const DEADLINE_MS = 100

async function start () {
  const upstream = await startUpstream()
  const agent = keepAliveAgent()
  const jobs = new HandleMap({ name: 'zoo.jobs' })
  const worker = new EventEmitter()
  // once() adds an 'error' listener per wait; the never-settling waits keep theirs.
  worker.setMaxListeners(0)
  let lastId = 0

  function runJob (kind, work) {
    const id = ++lastId
    return jobs.hold(id, { kind, startedAt: Date.now() }, () => work(id))
  }
  // The worker: does the job upstream and acknowledges it.
  function submit (id) {
    get(agent, `${upstream.url}/ok/${lognormalMs(5, 0.5)}`).then(() => worker.emit(`ack:${id}`), () => {})
  }

  const service = await serve({
    '/render': async (req, res) => {
      await runJob('render', id => { submit(id); return once(worker, `ack:${id}`) })
      res.end('rendered')
    },
    '/export': async (req, res) => {
      const done = runJob('export', id => { submit(id); return once(worker, `done:${id}`) }) // zoo:fix: the worker says ack:, never done:
      await Promise.race([done, delay(DEADLINE_MS)])
      res.end('export queued')
    }
  })
  const routes = ['/render', '/render', '/render', '/export']
  return upstreamService({ service, upstream, agent, path: i => routes[i % routes.length] })
}

module.exports = { kind: 'leak', what: 'a hold() caller that never settles', p99Ms: 20, seconds: { bench: 20, test: 14 }, start }
