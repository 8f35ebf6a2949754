'use strict'
// Many concurrent /debug/handles?seconds=N requests against the default handler:
//   node --expose-gc bench/route-deltas.js [maps] [requests] [seconds]   (default: 5000 200 5)
// Each map has one live entry from each of 4 insert sites, 8 frames deep. All
// requests are sent at once from this process over loopback; once every one is
// either waiting (its first snapshot taken) or refused, the heap and RSS growth
// are read after a GC. Prints the statuses, that growth (the clients' sockets
// included) and the event loop's worst delay over the run (those GCs excluded).

const http = require('node:http')
const vm = require('node:vm')
const path = require('node:path')
const { once } = require('node:events')
const { monitorEventLoopDelay } = require('node:perf_hooks')
const { HandleMap, registry } = require('..')
const { debugHandles } = require('../http.js')

const [mapCount = 5000, requestCount = 200, seconds = 5] = process.argv.slice(2).map(Number)

function settle () {
  for (let i = 0; i < 3; i++) global.gc()
  return process.memoryUsage()
}

function fillMaps () {
  const inserts = []
  for (let s = 0; s < 4; s++) {
    inserts.push(vm.runInThisContext(`(function insertFromHandler${s} (map, key) {
      function level1 () { level2() } function level2 () { level3() } function level3 () { level4() }
      function level4 () { level5() } function level5 () { level6() } function level6 () { level7() }
      function level7 () { map.set(key, key) }
      level1()
    })`, { filename: path.join(__dirname, 'a-service', 'routes', 'handlers', `handler-number-${s}.js`) }))
  }
  const maps = []
  for (let m = 0; m < mapCount; m++) {
    const map = new HandleMap({ name: `bench-${m}`, callSites: 'all', strict: false })
    for (const insert of inserts) insert(map, `k${m}`)
    maps.push(map)
  }
  return maps
}

function request (port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/debug/handles?format=json&seconds=${seconds}`, agent: false }, res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('error', reject)
  })
}

async function main () {
  const maps = fillMaps()
  const server = http.createServer(debugHandles())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  registry.report() // drain every map once, so the first request does not pay for it

  let waiting = 0
  let refused = 0
  let allSettled
  const settled = new Promise(resolve => { allSettled = resolve })
  const check = () => { if (waiting + refused === requestCount) allSettled() }
  const snapshot = registry.snapshot
  let windowSnapshots = true
  registry.snapshot = (...args) => {
    const taken = snapshot.apply(registry, args)
    if (windowSnapshots) { waiting++; check() }
    return taken
  }

  const before = settle()
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const answers = Array.from({ length: requestCount }, () => request(server.address().port).then(status => {
    if (status === 429) { refused++; check() }
    return status
  }))
  await settled
  windowSnapshots = false // the snapshots that close the windows are not new waiters
  const openingDelay = delay.max
  const during = settle()
  delay.reset() // the GCs above are the bench's own pause
  const statuses = await Promise.all(answers)
  delay.disable()
  server.close()
  const count = status => statuses.filter(each => each === status).length
  const mib = bytes => (bytes / 2 ** 20).toFixed(1)
  console.log(`${mapCount} maps, ${requestCount} concurrent ?seconds=${seconds}: ${count(200)} x 200, ${count(429)} x 429; ` +
    `while waiting: heap +${mib(during.heapUsed - before.heapUsed)} MiB, RSS +${mib(during.rss - before.rss)} MiB; ` +
    `worst event loop delay ${(openingDelay / 1e6).toFixed(0)} ms while the windows opened, ${(delay.max / 1e6).toFixed(0)} ms while they closed`)
  for (const map of maps) map.close()
}

main()
