'use strict'
// Instructions per set + get + delete cycle (and per hold()), counted by
// valgrind's callgrind at two cycle counts, the difference divided (start-up
// and the exit cancel out). Whatever else the machine does leaves the counts
// alone. V8 runs in its predictable mode (one thread, compiles and
// collections at the same points) with fixed hash and random seeds, so
// Map's buckets fall alike. Threads still interleave as the host schedules
// them: seven runs read a plain Map's cycle as 1,070 to 1,314 instructions
// (986 to 1,590 without these flags). Compare several runs, never one.
//
//   node bench/instructions.js [package root, default: this one] [modes...]
//
// Needs valgrind (Debian package `valgrind`). About a minute per mode.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(process.argv[2] || path.join(__dirname, '..'))
const MODES = process.argv.slice(3).length > 0 ? process.argv.slice(3) : ['Map', 'off', 'auto', 'hold off', 'hold auto']
const LOW = 50_000
const HIGH = 250_000

// One child run: `cycles` cycles of `mode` after the same warm-up.
const CHILD = `
const [root, mode, cycles] = [process.argv[1], process.argv[2], Number(process.argv[3])]
const { HandleMap } = require(root)
const LIVE = 10000
const hold = mode.startsWith('hold ')
const callSites = hold ? mode.slice(5) : mode
const make = () => callSites === 'Map' ? new Map() : new HandleMap({ name: 'instructions', callSites, ttl: 30000, strict: false })
function insertHere (map, key, value) { map.set(key, value) }
function removeHere (map, key) { map.delete(key) }
const work = v => v
function cycle (map, key) {
  if (hold) { map.hold(key, { id: key }, work); return }
  insertHere(map, key, { id: key })
  if (map.get(key) === undefined) throw new Error('lost an entry')
  removeHere(map, key - LIVE)
}
const map = make()
for (let i = 0; i < LIVE; i++) insertHere(map, i, { id: i })
let key = LIVE
for (let i = 0; i < 200000; i++) cycle(map, key++)
for (let i = 0; i < cycles; i++) cycle(map, key++)
`

function instructions (mode, cycles) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'callgrind-')), 'out')
  const run = spawnSync('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`,
    process.execPath, '--predictable', '--hash-seed=1', '--random-seed=1', '-e', CHILD, ROOT, mode, String(cycles)], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`valgrind failed (${run.status}): ${run.stderr.slice(-2000)}`)
  const summary = fs.readFileSync(out, 'utf8').match(/^summary: (\d+)/m) || fs.readFileSync(out, 'utf8').match(/^totals: (\d+)/m)
  return Number(summary[1])
}

console.log(`instructions per cycle (callgrind, ${HIGH - LOW} cycles by difference), ${ROOT}`)
for (const mode of MODES) {
  const per = (instructions(mode, HIGH) - instructions(mode, LOW)) / (HIGH - LOW)
  console.log(`${mode.padEnd(10)} ${per.toFixed(0)}`)
}
