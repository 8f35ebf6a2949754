'use strict'
// What closing a map costs with many maps open:
//   node bench/close.js [maps...]     (default: 2000 16000 40000)
// Opens `count` maps, closes them all, and prints one line per count: the
// total and the cost per close. Closing takes the map out of the process-wide
// registry under its lock, so a close that walked every other map would grow
// with the number open (O(n) each, O(n^2) for all); it should stay flat.

const { HandleMap } = require('..')

const counts = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [2000, 16_000, 40_000]

for (const count of counts) {
  const maps = []
  for (let i = 0; i < count; i++) {
    const map = new HandleMap({ name: `close-${i}`, strict: false })
    map.set(i, i)
    maps.push(map)
  }
  const start = performance.now()
  for (const map of maps) map.close()
  const ms = performance.now() - start
  console.log(`${count} maps: closing all ${ms.toFixed(1)} ms, ${(ms * 1e6 / count / 1000).toFixed(2)} µs per close`)
}
