'use strict'
// hold() against the code it replaces: set, one call of the same closure,
// delete in a finally, in 'off', 'auto' (the default) and 'all'. Both loops
// run on the same kind of map, 10k live entries behind them; rounds are
// interleaved and the median reported. Goal: hold within 1.25x in 'auto',
// 1.1x in 'off' (both go through the map's one insert and one free).
//
//   node bench/hold.js [--quick]       (also part of npm run bench)

const { HandleMap } = require('..')
const { median } = require('./cycle.js')

const LIVE = 10_000
const TTL = 30_000

// Each loop gets its own compiled copy, so its call sites see one map class
// and one closure, as bench/cycle.js does for the cycle contenders.
const LOOPS = {
  'set + call + delete': `
    return function setCallDelete (map, keys, work) {
      for (let key = keys.from; key < keys.to; key++) {
        const value = { id: key }
        map.set(key, value)
        try {
          work(value)
        } finally {
          map.delete(key)
        }
      }
    }`,
  'hold(key, value, fn)': `
    return function holdEach (map, keys, work) {
      for (let key = keys.from; key < keys.to; key++) {
        map.hold(key, { id: key }, work)
      }
    }`
}

function compile (name, mode) {
  return new Function(`// ${name} ${mode}\n${LOOPS[name]}`)()
}

function newMap (mode) {
  const map = new HandleMap({ callSites: mode, ttl: TTL, strict: false })
  for (let i = 0; i < LIVE; i++) map.set(-1 - i, { id: i })
  return map
}

/** ns per cycle for each loop, per mode: `{ [mode]: { [loop]: ns } }`. */
function measureHold ({ quick = false } = {}) {
  const rounds = quick ? 5 : 11
  const result = {}
  for (const mode of ['off', 'auto', 'all']) {
    const cycles = (quick ? 100_000 : 300_000) / (mode === 'all' ? 100 : 1)
    const names = Object.keys(LOOPS)
    const loops = Object.fromEntries(names.map(name => [name, compile(name, mode)]))
    const maps = Object.fromEntries(names.map(name => [name, newMap(mode)]))
    const samples = Object.fromEntries(names.map(name => [name, []]))
    let sink = 0
    const work = value => { sink += value.id }
    let next = 0
    const run = (name, count) => {
      const keys = { from: next, to: next + count }
      next += count
      const start = process.hrtime.bigint()
      loops[name](maps[name], keys, work)
      return Number(process.hrtime.bigint() - start) / count
    }
    for (const name of names) run(name, cycles / 10) // warm up
    for (let round = 0; round < rounds; round++) {
      for (const name of names) samples[name].push(run(name, cycles))
    }
    for (const name of names) {
      if (maps[name].size !== LIVE) throw new Error(`${name} left ${maps[name].size - LIVE} entries`)
      maps[name].close()
    }
    if (sink === 0) throw new Error('the closure never ran')
    result[mode] = Object.fromEntries(names.map(name => [name, median(samples[name])]))
  }
  return result
}

function renderHold (figures) {
  const lines = ['| mode | set + call + delete (ns) | hold (ns) | hold / set + call + delete |', '| --- | ---: | ---: | ---: |']
  for (const [mode, ns] of Object.entries(figures)) {
    const plain = ns['set + call + delete']
    const held = ns['hold(key, value, fn)']
    lines.push(`| '${mode}' (ttl) | ${plain.toFixed(0)} | ${held.toFixed(0)} | ${(held / plain).toFixed(2)}x |`)
  }
  return lines.join('\n')
}

if (require.main === module) {
  console.log(renderHold(measureHold({ quick: process.argv.includes('--quick') })))
}

module.exports = { measureHold, renderHold }
