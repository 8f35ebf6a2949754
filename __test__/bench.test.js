'use strict'
// The benchmark scripts run against this build, each in its quickest form.
// Nothing here is timed: a bench that no longer runs (an option the binding
// renamed, a result whose shape changed) fails here instead of on the day
// someone needs its figures. `npm run bench` itself is left to its command.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const NUMBER = /\d+(\.\d+)?/

function run (args, nodeFlags = []) {
  const child = spawnSync(process.execPath, [...nodeFlags, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })
  assert.equal(child.status, 0, `node ${args.join(' ')} exited with ${child.status}:\n${child.stderr}`)
  return child.stdout
}

/** The line of `output` that starts with `label` (after spaces), with a number after the label. */
function rowOf (output, label) {
  const line = output.split('\n').find(text => text.trimStart().startsWith(label))
  assert.ok(line !== undefined, `no row "${label}" in:\n${output}`)
  assert.match(line.slice(line.indexOf(label) + label.length), NUMBER, `row "${label}" has no figure`)
  return line
}

describe('bench scripts run against this build', () => {
  it('drain.js: every scenario prints its median and minimum', () => {
    const output = run(['bench/drain.js', '--rounds', '1'])
    for (const label of ['insert+remove pair, ttl, one stamp per log', 'insert+remove pair, no ttl', 'touch of a live entry', 'expiring 100k of 1M entries', 'tick expiring nothing', 'hand-over of a full log']) {
      rowOf(output, label)
    }
  })

  it('facade-floor.js: each replica and HandleMap against a Map', () => {
    const output = run(['bench/facade-floor.js', '1'])
    assert.match(output, /^1\.00x {2}Map$/m)
    assert.match(output, /\d\.\d\dx {2}HandleMap 'off' \(ttl\)/)
  })

  it('ab.js: this build against itself gives a ratio for each mode named', () => {
    const output = run(['bench/ab.js', '.', '1', 'off', 'auto'])
    assert.match(output, /this \/ other 'off': \d\.\d{3}/)
    assert.match(output, /this \/ other 'auto': \d\.\d{3}/)
  })

  it('hold.js and channels.js, quick: a row per mode', () => {
    const hold = run(['bench/hold.js', '--quick'])
    for (const mode of ["'off' (ttl)", "'auto' (ttl)", "'all' (ttl)"]) rowOf(hold, `| ${mode}`)
    rowOf(run(['bench/channels.js', '--quick']), "| set + get + delete cycle, HandleMap 'off' (ttl), ns")
  })

  it('memory.js: bytes per entry for a map and each mode, as JSON', () => {
    for (const kind of ['map', 'off', 'sampled']) {
      const result = JSON.parse(run(['bench/memory.js', kind, '2000'], ['--expose-gc']))
      assert.equal(result.count, 2000)
      assert.ok(Number.isFinite(result.rssPerEntry) && Number.isFinite(result.heapPerEntry), JSON.stringify(result))
    }
  })

  it('close.js, report-oldest.js and lifetimes.js print their figures', () => {
    assert.match(run(['bench/close.js', '50']), /50 maps: closing all [\d.]+ ms, [\d.]+ µs per close/)
    assert.match(run(['bench/report-oldest.js', '100']), /100 maps: report\(\) \d+ ms, report\(\{ oldest: 5 \}\) \d+ ms/)
    assert.match(run(['bench/lifetimes.js']), /lifetimes, p50 \d+ ms, p99 \d+ ms/)
  })

  it('route-deltas.js: statuses and growth of concurrent ?seconds= requests', () => {
    const output = run(['bench/route-deltas.js', '200', '20', '1'], ['--expose-gc'])
    assert.match(output, /200 maps, 20 concurrent \?seconds=1: .*heap [+-][\d.]+ MiB/)
  })
})
