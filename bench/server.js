'use strict'
// npm run bench:server: what a real server pays for HandleMap, end to end.
//
// An app over loopback HTTP whose every GET /status makes CALLS upstream
// calls (keep-alive), each call's context held in a map from the request
// until the reply, as a client library or a proxy holds its in-flight calls.
// One app process per contender (a plain Map, HandleMap at its defaults with
// NODE_ENV unset and with NODE_ENV=production, 'all', 'off'), one upstream
// process, autocannon driving from this process. The contenders take turns
// in rounds (the order rotates each round), so machine noise falls on all of
// them alike; each round's figures are divided by the Map's of that round and
// the median of those ratios is reported. Writes its section of BENCHMARKS.md.
//
//   node bench/server.js [--quick] [--rounds N] [--seconds S]
//   node bench/server.js --app <contender> | --upstream   (the child processes)

const { spawn } = require('node:child_process')
const http = require('node:http')
const os = require('node:os')
const { marks, writeSection } = require('./sections.js')

const CALLS = 3
const CONNECTIONS = 16
const CONTENDERS = {
  Map: { env: {} },
  'HandleMap defaults': { env: { NODE_ENV: '' } },
  'HandleMap defaults, NODE_ENV=production': { env: { NODE_ENV: 'production' } },
  "HandleMap 'all'": { env: { NODE_ENV: '' }, options: { callSites: 'all' } },
  "HandleMap 'off'": { env: { NODE_ENV: '' }, options: { callSites: 'off' } }
}
const [SECTION_START, SECTION_END] = marks('server')

function argument (name, fallback) {
  const at = process.argv.indexOf(name)
  return at === -1 ? fallback : process.argv[at + 1]
}

// ---- the child processes ---------------------------------------------------------

function runUpstream () {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"ok":true}')
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
}

function cpuMs () {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

function runApp (contender, upstreamPort) {
  const { options } = CONTENDERS[contender]
  const pending = contender === 'Map'
    ? new Map()
    : new (require('..').HandleMap)({ name: 'bench.pendingCalls', ...options })
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  let nextId = 0

  function callUpstream (requestId, done) {
    const id = ++nextId
    pending.set(id, { requestId, startedAt: Date.now(), done })
    const req = http.get({ host: '127.0.0.1', port: upstreamPort, path: '/v1/health', agent }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => {
        const call = pending.get(id)
        pending.delete(id)
        call.done(null, body)
      })
    })
    req.on('error', error => {
      const call = pending.get(id)
      pending.delete(id)
      call.done(error)
    })
  }

  let requests = 0
  const server = http.createServer((req, res) => {
    const requestId = ++requests
    let left = CALLS
    let failed = null
    const replies = []
    for (let i = 0; i < CALLS; i++) {
      callUpstream(requestId, (error, body) => {
        if (error) failed = error
        else replies.push(body)
        if (--left > 0) return
        res.writeHead(failed ? 502 : 200, { 'content-type': 'application/json' })
        res.end(failed ? '{"ok":false}' : `{"ok":true,"calls":${replies.length}}`)
      })
    }
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('message', message => {
    if (message !== 'report') return
    const report = typeof pending.report === 'function' ? pending.report() : null
    process.send({
      size: pending.size,
      estimated: report && report.estimated,
      sites: report ? report.sites.length : 0,
      cpuMs: cpuMs()
    })
  })
}

// ---- the driver ------------------------------------------------------------------

function startChild (args, env) {
  const child = spawn(process.execPath, [__filename, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return new Promise((resolve, reject) => {
    child.once('message', ({ port }) => resolve({ child, port }))
    child.once('exit', code => reject(new Error(`${args.join(' ')} exited with ${code}`)))
  })
}

function ask (child) {
  return new Promise(resolve => {
    child.once('message', resolve)
    child.send('report')
  })
}

function load (port, seconds) {
  const autocannon = require('autocannon')
  return new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}/status`, connections: CONNECTIONS, duration: seconds }, (error, result) => {
      if (error) return reject(error)
      if (result.errors > 0 || result.non2xx > 0) return reject(new Error(`${result.errors} errors, ${result.non2xx} non-2xx`))
      resolve({ requests: result.requests.total, rps: result.requests.total / (result.duration || seconds), p99: result.latency.p99 })
    })
  })
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

async function drive () {
  const quick = process.argv.includes('--quick')
  const rounds = Number(argument('--rounds', quick ? 3 : 7))
  const seconds = Number(argument('--seconds', quick ? 3 : 5))
  const upstream = await startChild(['--upstream'], {})
  const names = Object.keys(CONTENDERS)
  const apps = {}
  try {
    for (const name of names) apps[name] = await startChild(['--app', name, String(upstream.port)], CONTENDERS[name].env)
    console.log(`bench:server: ${names.length} contenders, ${rounds} rounds of ${seconds} s each, ${CONNECTIONS} connections, ${CALLS} upstream calls per request`)
    for (const name of names) await load(apps[name].port, 1) // warm up (JIT, sockets)
    const ratios = Object.fromEntries(names.map(name => [name, { rps: [], p99: [], cpu: [], raw: [] }]))
    for (let round = 0; round < rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length])
      const figures = {}
      for (const name of order) {
        const before = (await ask(apps[name].child)).cpuMs
        figures[name] = await load(apps[name].port, seconds)
        // The app's CPU time per request: what the map costs, much less moved
        // than req/s by other processes competing for the cores.
        figures[name].cpuUs = ((await ask(apps[name].child)).cpuMs - before) * 1000 / figures[name].requests
      }
      for (const name of names) {
        ratios[name].rps.push(figures[name].rps / figures.Map.rps)
        ratios[name].p99.push(figures[name].p99 / figures.Map.p99)
        ratios[name].cpu.push(figures[name].cpuUs / figures.Map.cpuUs)
        ratios[name].raw.push(figures[name])
      }
      console.log(`round ${round + 1}: ` + names.map(name => `${name} ${figures[name].rps.toFixed(0)} req/s p99 ${figures[name].p99} ms ${figures[name].cpuUs.toFixed(0)} us CPU/req`).join(' | '))
    }
    const states = {}
    for (const name of names) states[name] = await ask(apps[name].child)
    const markdown = render({ rounds, seconds, ratios, states })
    console.log('\n' + markdown)
    if (!quick) writeSection('server', markdown)
  } finally {
    for (const app of Object.values(apps)) app.child.kill()
    upstream.child.kill()
  }
}

function render ({ rounds, seconds, ratios, states }) {
  const row = cells => `| ${cells.join(' | ')} |`
  const lines = [SECTION_START, '## A real server, end to end (`npm run bench:server`)', '']
  lines.push(`Written on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} x ${os.cpus()[0].model.trim()}, Node ${process.version}. A loopback HTTP app whose every request makes ${CALLS} upstream calls (keep-alive), each call's context held in the map from request to reply; autocannon, ${CONNECTIONS} connections, ${rounds} rounds of ${seconds} s, contenders alternated in each round (rotating order). Ratios are each round's figure over the Map's of the same round; the table gives the median and the range over the rounds.`, '')
  lines.push(row(['contender', 'req/s (median)', 'req/s ratio to Map', 'range', 'p99 latency ratio to Map', 'range', 'app CPU per request, ratio to Map', 'range', 'target', 'site figures at the end']))
  lines.push(row(['---', '---:', '---:', '---', '---:', '---', '---:', '---', '---', '---']))
  for (const [name, { rps, p99, cpu, raw }] of Object.entries(ratios)) {
    const target = name.startsWith('HandleMap defaults') ? '>= 0.99x req/s, p99 <= 1.02x' : ''
    const state = states[name]
    const sites = name === 'Map' ? '' : state.sites === 0 ? 'none (counts only)' : `${state.sites} site${state.sites === 1 ? '' : 's'}, ${state.estimated ? 'estimated' : 'exact'}`
    const range = values => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`
    lines.push(row([name, median(raw.map(r => r.rps)).toFixed(0), `${median(rps).toFixed(3)}x`, range(rps), `${median(p99).toFixed(3)}x`, range(p99), `${median(cpu).toFixed(3)}x (${median(raw.map(r => r.cpuUs)).toFixed(0)} µs)`, range(cpu), target, sites]))
  }
  lines.push('', "The machine is shared (2 cores, other jobs building): the Map's own req/s moves between rounds, so read a ratio against its range. The app's CPU time per request (user + system, measured around each run) is not stretched by waiting for a core, but cache and frequency effects of other jobs still move it. On a loaded machine, no ratio here resolves 1%.")
  lines.push(SECTION_END)
  return lines.join('\n')
}

if (require.main === module) {
  if (process.argv.includes('--upstream')) runUpstream()
  else if (process.argv.includes('--app')) runApp(argument('--app'), Number(process.argv[process.argv.indexOf('--app') + 2]))
  else drive().catch(error => { console.error(error); process.exitCode = 1 })
}
