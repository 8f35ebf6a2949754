'use strict'
// One memory measurement in a fresh process (run by bench/index.js):
//   node --expose-gc bench/memory.js <map|off|sampled|all> <count>
// Prints { count, rssPerEntry, heapPerEntry } as JSON.

const { HandleMap } = require('..')

const [kind, countText] = process.argv.slice(2)
const count = Number(countText)

function settle () {
  for (let i = 0; i < 3; i++) global.gc()
  return process.memoryUsage()
}

function make () {
  if (kind === 'map') return new Map()
  return new HandleMap({ callSites: kind, ttl: 600_000, strict: false })
}

// Build an empty container first so the addon and its code are already loaded.
const map = make()
const before = settle()
for (let i = 0; i < count; i++) map.set(i, { id: i })
if (typeof map.report === 'function') map.report() // drain the op log into the ledger
const after = settle()
if (map.size !== count) throw new Error('lost entries')
console.log(JSON.stringify({
  count,
  rssPerEntry: (after.rss - before.rss) / count,
  heapPerEntry: (after.heapUsed - before.heapUsed) / count
}))
