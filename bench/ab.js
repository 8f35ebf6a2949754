'use strict'
// This build's set + get + delete cycle against another build's ('off' and
// 'auto' unless modes are named, 10,000 live, ttl 30 s). The other build is
// a package root (e.g. a git worktree of an older commit, built with
// `npm run build`, or a copy with one thing changed).
//
//   node bench/ab.js /path/to/other/handle-ledger [pairs of rounds] [modes...]
//
// Where a build sits changes its time by a few percent, the same code
// against itself: the build loaded second, or timed right after the other,
// runs slower. So each place is taken by both builds: two processes load
// them in the two orders, and in each the builds swap turns every round.
// A ratio is the geometric mean over a pair of rounds (one in each order),
// each process reports the median of its pairs, and the figure is the
// geometric mean of the two processes' medians.

const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { loopFor, median } = require('./cycle.js')

const LIVE = 10_000
const CYCLES = 200_000
const DEFAULT_MODES = ['off', 'auto']

function timeInOneProcess (otherRoot, pairs, thisFirst, modes) {
  const roots = thisFirst ? [['this', '..'], ['other', otherRoot]] : [['other', otherRoot], ['this', '..']]
  const builds = Object.fromEntries(roots.map(([build, root]) => [build, require(root === '..' ? '..' : path.resolve(root))]))
  const contenders = { Map: () => new Map() }
  for (const mode of modes) {
    for (const build of ['other', 'this']) {
      contenders[`${build} '${mode}'`] = () => new builds[build].HandleMap({ name: `ab-${build}-${mode}`, callSites: mode, ttl: 30_000, strict: false })
    }
  }
  const names = Object.keys(contenders)
  const swapped = names.map(name => name.replace(/^(this|other) /, (_, build) => build === 'this' ? 'other ' : 'this '))
  const loops = Object.fromEntries(names.map(name => [name, loopFor(name)]))
  for (const name of names) loops[name](contenders[name], CYCLES / 10, LIVE) // warm up
  const samples = Object.fromEntries(names.map(name => [name, []]))
  for (let round = 0; round < pairs * 2; round++) {
    for (const name of round % 2 === 0 ? names : swapped) samples[name].push(loops[name](contenders[name], CYCLES, LIVE).ns)
  }
  const result = { ns: Object.fromEntries(names.map(name => [name, median(samples[name])])), ratio: {} }
  for (const mode of modes) {
    const ratio = i => samples[`this '${mode}'`][i] / samples[`other '${mode}'`][i]
    result.ratio[mode] = median(Array.from({ length: pairs }, (_, pair) => Math.sqrt(ratio(2 * pair) * ratio(2 * pair + 1))))
  }
  return result
}

function main () {
  const [otherRoot, pairsArg, ...named] = process.argv.slice(2)
  if (!otherRoot) {
    console.error('usage: node bench/ab.js /path/to/other/handle-ledger [pairs of rounds] [modes...]')
    process.exit(2)
  }
  const pairs = Number(pairsArg || 20)
  const modes = named.length > 0 ? named : DEFAULT_MODES
  const runs = [false, true].map(thisFirst => {
    const child = spawnSync(process.execPath, [__filename, '--child', otherRoot, String(pairs), String(thisFirst), ...modes], { encoding: 'utf8' })
    if (child.status !== 0) throw new Error(`the timing process failed:\n${child.stderr}`)
    return JSON.parse(child.stdout)
  })
  for (const name of Object.keys(runs[0].ns)) {
    const ns = Math.sqrt(runs[0].ns[name] * runs[1].ns[name])
    const map = Math.sqrt(runs[0].ns.Map * runs[1].ns.Map)
    console.log(`${name.padEnd(14)} ${ns.toFixed(1)} ns  ${(ns / map).toFixed(2)}x Map`)
  }
  for (const mode of modes) {
    const [a, b] = runs.map(run => run.ratio[mode])
    console.log(`this / other '${mode}': ${Math.sqrt(a * b).toFixed(3)} (other loaded first ${a.toFixed(3)}, this first ${b.toFixed(3)}; ${pairs} pairs of rounds each)`)
  }
}

if (process.argv[2] === '--child') {
  const [otherRoot, pairs, thisFirst, ...modes] = process.argv.slice(3)
  process.stdout.write(JSON.stringify(timeInOneProcess(otherRoot, Number(pairs), thisFirst === 'true', modes)))
} else {
  main()
}
