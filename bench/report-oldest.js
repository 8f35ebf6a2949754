'use strict'
// registry.report() with and without { oldest }, over many maps of this thread:
//   node bench/report-oldest.js [maps...]     (default: 8000 20000)
// Prints one line per map count: the ms of one report each way.

const { HandleMap, registry } = require('..')

const counts = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [8000, 20_000]

function timed (fn) {
  const start = performance.now()
  const result = fn()
  return { ms: performance.now() - start, result }
}

for (const count of counts) {
  const maps = []
  for (let i = 0; i < count; i++) {
    const map = new HandleMap({ name: `bench-${i}`, strict: false })
    map.set(`a-${i}`, i)
    map.set(`b-${i}`, i)
    maps.push(map)
  }
  registry.report() // first flush of every map, so both timings below start from drained maps
  const plain = timed(() => registry.report())
  const oldest = timed(() => registry.report({ oldest: 5 }))
  const withEntries = oldest.result.maps.filter(map => Array.isArray(map.oldestEntries) && map.oldestEntries.length === 2).length
  if (withEntries !== count) throw new Error(`${withEntries} of ${count} maps got their oldest entries`)
  console.log(`${count} maps: report() ${plain.ms.toFixed(0)} ms, report({ oldest: 5 }) ${oldest.ms.toFixed(0)} ms`)
  for (const map of maps) map.close()
}
