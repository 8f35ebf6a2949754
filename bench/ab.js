'use strict'
// This build's set + get + delete cycle against another build's, in one
// process, rounds interleaved ('off' and 'auto', 10,000 live, ttl 30 s), the
// median of the per-round ratios: machine noise that lasts longer than a
// round cancels. The other build is a package root (e.g. a git worktree of
// an older commit, built with `npm run build`).
//
//   node bench/ab.js /path/to/other/handle-ledger [rounds]

const path = require('node:path')
const { loopFor, median } = require('./cycle.js')

const OTHER = process.argv[2]
if (!OTHER) {
  console.error('usage: node bench/ab.js /path/to/other/handle-ledger [rounds]')
  process.exit(2)
}
const ROUNDS = Number(process.argv[3] || 15)
const LIVE = 10_000
const CYCLES = 200_000
const builds = { other: require(path.resolve(OTHER)), this: require('..') }

const contenders = { Map: () => new Map() }
for (const mode of ['off', 'auto']) {
  for (const [build, { HandleMap }] of Object.entries(builds)) {
    contenders[`${build} '${mode}'`] = () => new HandleMap({ name: `ab-${build}-${mode}`, callSites: mode, ttl: 30_000, strict: false })
  }
}
const names = Object.keys(contenders)
const loops = Object.fromEntries(names.map(name => [name, loopFor(name)]))
for (const name of names) loops[name](contenders[name], CYCLES / 10, LIVE) // warm up
const samples = Object.fromEntries(names.map(name => [name, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const name of names) samples[name].push(loops[name](contenders[name], CYCLES, LIVE).ns)
}
const ns = Object.fromEntries(names.map(name => [name, median(samples[name])]))
for (const name of names) console.log(`${name.padEnd(14)} ${ns[name].toFixed(1)} ns  ${(ns[name] / ns.Map).toFixed(2)}x Map`)
for (const mode of ['off', 'auto']) {
  const ratios = samples[`this '${mode}'`].map((value, i) => value / samples[`other '${mode}'`][i])
  console.log(`this / other '${mode}': ${median(ratios).toFixed(3)} (median of ${ROUNDS} per-round ratios)`)
}
