'use strict'
// What the facade's design costs on its own, before any ledger: pure-JS
// replicas of HandleMap's hot path, one mechanism added at a time, each
// measured against a plain Map in the same process. Every round runs the Map
// and then each contender back to back, and the figure is the median of the
// per-round ratios, so machine noise that lasts longer than a round cancels.
//
//   node bench/facade-floor.js [rounds]
//
// ARCHITECTURE.md quotes it ("What is left on the JS thread is the facade").

const { HandleMap } = require('..')
const { loopFor, median } = require('./cycle.js')

const LIVE = 10_000
const CYCLES = 100_000
const ROUNDS = Number(process.argv[2] || 31)

// The replica, with each mechanism switched by a constant (each variant is
// compiled from its own source, so none shares type feedback with another).
const REPLICA_SOURCE = `
return class Replica {
  constructor () { this.slots = new Map(); this.entries = []; this.freeSlot = -1; this.nextSlot = 0; this.log = new Int32Array(8192); this.logLength = 0; this.maxSize = Infinity }
  get (key) { const slot = this.slots.get(key); return slot === undefined ? undefined : this.entries[(slot << 1) + 1] }
  set (key, value) {
    if (LOOKUP_BEFORE_INSERT) {
      const slot = this.slots.get(key)
      if (slot !== undefined) { this.entries[(slot << 1) + 1] = value; return this }
    }
    if (LOG) {
      if (this.logLength > 8180) this.logLength = 0
      if (this.slots.size >= this.maxSize) throw new RangeError('full')
    }
    let slot = this.freeSlot
    if (slot === -1) slot = this.nextSlot++
    else this.freeSlot = this.entries[slot << 1]
    this.slots.set(key, slot)
    this.entries[slot << 1] = key
    this.entries[(slot << 1) + 1] = value
    if (LOG) { const at = this.logLength; this.log[at] = slot << 3 | 1; this.log[at + 1] = 0; this.logLength = at + 2 }
    return this
  }
  delete (key) {
    const slot = this.slots.get(key)
    if (slot === undefined) return false
    if (LOG && this.logLength > 8180) this.logLength = 0
    this.slots.delete(key)
    this.entries[slot << 1] = this.freeSlot
    this.entries[(slot << 1) + 1] = undefined
    this.freeSlot = slot
    if (LOG) this.log[this.logLength++] = slot << 3 | 2
    return true
  }
}`

const WRAPPER_SOURCE = `
return class Wrapper {
  constructor () { this.map = new Map() }
  get (key) { return this.map.get(key) }
  set (key, value) { this.map.set(key, value); return this }
  delete (key) { return this.map.delete(key) }
}`

function compile (label, source) {
  return new Function(`// ${label}\n${source}`)()
}

function replica (label, lookupBeforeInsert, log) {
  const Class = compile(label, `const LOOKUP_BEFORE_INSERT = ${lookupBeforeInsert}, LOG = ${log}\n${REPLICA_SOURCE}`)
  return () => new Class()
}

const Wrapper = compile('wrapper', WRAPPER_SOURCE)
const contenders = {
  Map: () => new Map(),
  'a class wrapping a Map': () => new Wrapper(),
  '+ key -> slot, values by slot, free list': replica('slots', false, false),
  '+ lookup before the insert': replica('lookup', true, false),
  '+ op log and maxSize check': replica('log', true, true),
  "HandleMap 'off' (ttl)": () => new HandleMap({ callSites: 'off', ttl: 30_000, strict: false })
}

function main () {
  const names = Object.keys(contenders)
  const loops = Object.fromEntries(names.map(name => [name, loopFor(name)]))
  for (const name of names) loops[name](contenders[name], CYCLES / 4, LIVE) // warm up
  const ratios = Object.fromEntries(names.map(name => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const base = loops.Map(contenders.Map, CYCLES, LIVE).ns
    for (const name of names) ratios[name].push(name === 'Map' ? 1 : loops[name](contenders[name], CYCLES, LIVE).ns / base)
  }
  console.log(`set + get + delete, ${LIVE} live entries: median of ${ROUNDS} per-round ratios to a Map`)
  for (const name of names) console.log(`${median(ratios[name]).toFixed(2)}x  ${name}`)
}

main()
