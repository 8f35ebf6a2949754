'use strict'
// Lifetimes at the library's defaults: keys set 3 ms apart, each deleted
// after a 2-12 ms timer (an upstream call), for 3 s; then the site's
// lifetime figures as the report shows them. With a ttl of 30 s the flush
// interval is 1 s: lifetimes must not be rounded to it.
//
//   node bench/lifetimes.js [path to a package root, default this one]

const path = require('node:path')
const { HandleMap } = require(path.resolve(process.argv[2] || path.join(__dirname, '..')))

const map = new HandleMap({ name: 'lifetimes', ttl: 30_000 })
let next = 0
function call () {
  const key = next++
  map.set(key, key)
  setTimeout(() => map.delete(key), 2 + Math.random() * 10)
}
const calls = setInterval(call, 3)
setTimeout(() => {
  clearInterval(calls)
  setTimeout(() => {
    const { lifetime } = map.report().sites[0]
    console.log(`calls of 2-12 ms: ${lifetime.count} lifetimes, p50 ${lifetime.p50Ms} ms, p99 ${lifetime.p99Ms} ms, max ${lifetime.maxMs} ms`)
    map.close()
  }, 50)
}, 3_000)
