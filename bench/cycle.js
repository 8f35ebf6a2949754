'use strict'
// The set + get + delete cycle every contender is timed on (bench/index.js
// and bench/facade-floor.js), and the median they report.

// Each contender gets its own copy of the loop (compiled from source), so
// every call site in it sees one map class, as in a real server. One shared
// loop would make the call sites megamorphic and charge each contender for
// the others. The loop is the same text for all.
const CYCLE_SOURCE = `
  function insertHere (map, key, value) { map.set(key, value) }
  function removeHere (map, key) { map.delete(key) }
  return function cycleCost (make, cycles, live) {
    const map = make()
    for (let i = 0; i < live; i++) insertHere(map, i, { id: i })
    let key = live
    const cpu = process.cpuUsage()
    const start = process.hrtime.bigint()
    for (let i = 0; i < cycles; i++) {
      insertHere(map, key, { id: key })
      if (map.get(key) === undefined) throw new Error('lost an entry')
      removeHere(map, key - live)
      key++
    }
    const ns = Number(process.hrtime.bigint() - start) / cycles
    const used = process.cpuUsage(cpu)
    if (typeof map.close === 'function') map.close()
    return { ns, cpuNs: (used.user + used.system) * 1000 / cycles }
  }`

/** A fresh copy of the cycle loop for `name`. */
function loopFor (name) {
  // A distinct comment gives each copy its own compiled function.
  return new Function('process', `// ${name}\n${CYCLE_SOURCE}`)(process)
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

module.exports = { loopFor, median }
