'use strict'
// npm run bench: what handle-ledger costs, next to what users compare it with.
// Prints a table and writes BENCHMARKS.md. Timing goals live here, never in tests.
//
//   node bench/index.js [--quick] [--cycles | --capture-share (that table only, not written)]

const { spawnSync } = require('node:child_process')
const path = require('node:path')
const os = require('node:os')
const { LRUCache } = require('lru-cache')
const { HandleMap, registry } = require('..')
const { loopFor, median } = require('./cycle.js')
const { measureHold, renderHold } = require('./hold.js')
const { measureChannels, renderChannels } = require('./channels.js')
const { writeKeepingSections } = require('./sections.js')

const QUICK = process.argv.includes('--quick')
const LIVE = 10_000
const CYCLES = QUICK ? 100_000 : 300_000
const ROUNDS = QUICK ? 5 : 15
const TTL = 30_000

// The "naive instrumented map" users would write by hand: a Map plus a
// full stack string per set.
class NaiveInstrumentedMap {
  constructor () { this.map = new Map() }
  set (key, value) { this.map.set(key, { value, stack: new Error().stack, at: Date.now() }); return this }
  get (key) { const e = this.map.get(key); return e === undefined ? undefined : e.value }
  delete (key) { return this.map.delete(key) }
}

const contenders = {
  Map: () => new Map(),
  'lru-cache 11 (ttl)': () => new LRUCache({ max: 1_000_000, ttl: TTL }),
  'naive instrumented Map': () => new NaiveInstrumentedMap(),
  "HandleMap 'off' (ttl)": () => new HandleMap({ callSites: 'off', ttl: TTL }),
  "HandleMap 'auto' (ttl, the default)": () => new HandleMap({ callSites: 'auto', ttl: TTL }),
  "HandleMap 'sampled' 1/64 (ttl)": () => new HandleMap({ callSites: 'sampled', sampleRate: 64, ttl: TTL }),
  "HandleMap 'all' (ttl)": () => new HandleMap({ callSites: 'all', ttl: TTL })
}

/** A function that shuffles a list, the same sequence of orders for the same seed (mulberry32). */
function seededShuffle (seed) {
  let state = seed >>> 0
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return list => {
    const copy = [...list]
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[copy[i], copy[j]] = [copy[j], copy[i]]
    }
    return copy
  }
}

function measureCycles () {
  const samples = Object.fromEntries(Object.keys(contenders).map(name => [name, []]))
  const cpuSamples = Object.fromEntries(Object.keys(contenders).map(name => [name, []]))
  // The naive map and 'all' mode capture stacks: fewer cycles, same per-cycle figure.
  const cyclesFor = name => (/naive|'all'/.test(name) ? CYCLES / 10 : CYCLES)
  const loops = Object.fromEntries(Object.keys(contenders).map(name => [name, loopFor(name)]))
  for (const name of Object.keys(contenders)) loops[name](contenders[name], cyclesFor(name) / 10, LIVE) // warm up
  // Interleaved rounds, so machine noise falls on every contender alike, each
  // in a new order: a contender's time depends on what ran just before it
  // (after the naive map's garbage, by up to a third), so no contender may
  // always follow the same one.
  const shuffled = seededShuffle(1)
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of shuffled(Object.keys(contenders))) {
      const { ns, cpuNs } = loops[name](contenders[name], cyclesFor(name), LIVE)
      samples[name].push(ns)
      cpuSamples[name].push(cpuNs)
    }
  }
  const medians = values => Object.fromEntries(Object.entries(values).map(([name, list]) => [name, median(list)]))
  return { wall: medians(samples), cpu: medians(cpuSamples) }
}

// V8 sizes its young generation by how fast the fill loop allocates, not by
// what it keeps: with default flags that alone moves RSS by ±15 bytes per
// entry between identical runs (and between contenders of different speed).
// The target is judged with the young generation pinned at 1 MB for every
// contender, which leaves what the entries themselves cost; the default-flag
// figure is printed next to it.
const PINNED_YOUNG_GENERATION = ['--max-semi-space-size=1']

/** RSS and heap bytes per entry at `count` entries, each kind in a fresh process. */
function measureMemory (count) {
  return {
    pinned: measureMemoryWith(count, PINNED_YOUNG_GENERATION),
    defaults: measureMemoryWith(count, [])
  }
}

function measureMemoryWith (count, flags) {
  const kinds = ['map', 'off', 'sampled', 'all']
  const result = {}
  const runs = QUICK ? 1 : 3
  for (const kind of kinds) result[kind] = []
  // RSS moves between identical runs: interleave the kinds, keep the median.
  for (let run = 0; run < runs; run++) {
    for (const kind of kinds) {
      const child = spawnSync(process.execPath, ['--expose-gc', ...flags, path.join(__dirname, 'memory.js'), kind, String(count)], { encoding: 'utf8' })
      if (child.status !== 0) throw new Error(`memory.js ${kind} failed: ${child.stderr}`)
      result[kind].push(JSON.parse(child.stdout))
    }
  }
  for (const kind of kinds) {
    const byRss = result[kind].sort((a, b) => a.rssPerEntry - b.rssPerEntry)
    result[kind] = byRss[Math.floor(byRss.length / 2)]
  }
  return result
}

function time (fn) {
  const start = process.hrtime.bigint()
  const value = fn()
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value }
}

/** Expiring 100k of 1M entries, and ticks that expire nothing at growing sizes. */
function measureExpiry () {
  let now = 0
  const clock = () => now
  const total = QUICK ? 200_000 : 1_000_000
  const expiring = total / 10
  const map = new HandleMap({ callSites: 'off', ttl: 10_000, clock, strict: false })
  for (let i = 0; i < expiring; i++) map.set(i, i)
  now = 5_000
  for (let i = expiring; i < total; i++) map.set(i, i)
  map.purgeExpired() // drain the log first: expiry cost alone
  now = 10_000
  const expire = time(() => map.purgeExpired())
  if (expire.value !== expiring) throw new Error(`expected ${expiring} expired, got ${expire.value}`)
  map.close()

  const idle = {}
  for (const size of [10_000, 10_000, 100_000, QUICK ? 200_000 : 1_000_000]) { // the first run warms up
    let t = 0
    const idleMap = new HandleMap({ callSites: 'off', ttl: 60_000, clock: () => t, strict: false })
    for (let i = 0; i < size; i++) idleMap.set(i, i)
    idleMap.purgeExpired()
    const ticks = 2_000
    const start = process.hrtime.bigint()
    for (let i = 0; i < ticks; i++) { t += 10; idleMap.purgeExpired() }
    idle[size] = Number(process.hrtime.bigint() - start) / ticks
    idleMap.close()
  }
  return { total, expiring, perExpiredNs: expire.ms * 1e6 / expiring, idleTickNs: idle }
}

/**
 * registry.report() and registry.snapshot() with many live entries over 100
 * insert sites x 10 callers each (1,000 distinct stacks); one entry in ten is
 * removed, so every site has lifetimes and its rules are judged.
 */
function measureReports () {
  const total = QUICK ? 200_000 : 1_000_000
  const map = new HandleMap({ name: 'bench.report', callSites: 'all', strict: false })
  // 100 distinct insert sites, each called from 10 distinct callers: one
  // function per site and per caller, made by new Function (each at its own
  // column, so each is its own frame).
  const inserters = Array.from({ length: 100 }, (_, i) => new Function('map', 'key', `${' '.repeat(i)}return map.set(key, key)`))
  const callers = Array.from({ length: 10 }, (_, j) => new Function('insert', 'map', 'key', `${' '.repeat(j)}return insert(map, key)`))
  for (let i = 0; i < total; i++) {
    callers[Math.floor(i / 100) % 10](inserters[i % 100], map, i)
    if (i % 10 === 9) map.delete(i - 5)
  }
  registry.report() // flush once
  const reportRuns = []
  const snapshotRuns = []
  for (let i = 0; i < 7; i++) {
    reportRuns.push(time(() => registry.report()).ms)
    snapshotRuns.push(time(() => registry.snapshot()).ms)
  }
  const report = registry.snapshot().maps.find(m => m.name === 'bench.report')
  const stacks = registry.report({ limit: Infinity, callers: 1000 }).maps.find(m => m.name === 'bench.report').sites.reduce((sum, site) => sum + site.callers.length, 0)
  const live = map.size
  map.close()
  return { total: live, sites: report.sites.length, stacks, reportMs: median(reportRuns), snapshotMs: median(snapshotRuns) }
}

/** What one call-site capture costs here (the price of 'all' and of each sample). */
function measureCapture () {
  const callsite = require('../lib/map/callsite.js')
  const count = QUICK ? 20_000 : 100_000
  function caller () { return callsite.siteOf(caller, 8) }
  const runs = []
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < count; i++) caller()
    runs.push(Number(process.hrtime.bigint() - start) / count)
  }
  return median(runs)
}

/**
 * The share of the JS thread's time spent capturing call sites, at paced
 * insert rates up to the most this loop can do, in 'auto' and in 'all'; and
 * what one cycle costs at each rate. Capture time is summed around
 * callsite.siteOf (two clock reads per capture); each map first runs
 * WARM_MS unmeasured, so its start-up allowance (the first captures and the
 * initial credit) is spent before the measurement: this is the steady state.
 */
function measureCaptureShare () {
  const callsite = require('../lib/map/callsite.js')
  const siteOf = callsite.siteOf
  let capturing = 0
  callsite.siteOf = (below, depth) => {
    const start = performance.now()
    try {
      return siteOf(below, depth)
    } finally {
      capturing += performance.now() - start
    }
  }
  const WARM_MS = QUICK ? 1200 : 2000
  // 'auto' pays a GC pause that lands in a capture in full, then waits for
  // its credit to grow back: it is judged over 10 s, not over one pause.
  const RUN_MS = mode => (QUICK ? 1000 : mode === 'auto' ? 10_000 : 3000)
  const rates = [1_000, 10_000, 100_000, 1_000_000, Infinity]
  const results = []
  try {
    for (const mode of ['auto', 'all', 'off']) {
      const loop = pacedLoop(mode)
      for (const rate of rates) {
        if (mode === 'off' && rate !== Infinity) continue
        const map = new HandleMap({ name: `bench.share.${mode}`, callSites: mode, ttl: TTL, strict: false })
        let key = loop(map, rate, WARM_MS, 0)
        capturing = 0
        const start = performance.now()
        const before = key
        key = loop(map, rate, RUN_MS(mode), key)
        const elapsed = performance.now() - start
        const report = map.report()
        results.push({ mode, rate, inserts: key - before, seconds: elapsed / 1000, share: capturing / elapsed, nsPerCycle: elapsed * 1e6 / (key - before), estimated: report.estimated })
        map.close()
      }
    }
  } finally {
    callsite.siteOf = siteOf
  }
  return results
}

// A set + get + delete cycle at `rate` inserts per second for `ms` (spinning
// between cycles stands for the rest of the server's work), 10k live. The
// loop never yields, so it runs the map's tick itself every flush interval
// (1 s here), as the map's timer would.
function pacedLoop (mode) {
  return new Function('performance', 'LIVE', `// paced ${mode}
    function insertHere (map, key, value) { map.set(key, value) }
    function removeHere (map, key) { map.delete(key) }
    return function paced (map, rate, ms, key) {
      if (key === 0) { for (; key < LIVE; key++) insertHere(map, key, { id: key }) }
      const start = performance.now()
      const end = start + ms
      const every = 1000 / rate
      let next = start
      let nextTick = start + 1000
      for (;;) {
        const now = performance.now()
        if (now >= end) return key
        if (now >= nextTick) { map.purgeExpired(); nextTick += 1000 }
        if (now < next) continue
        next += every
        insertHere(map, key, { id: key })
        if (map.get(key) === undefined) throw new Error('lost an entry')
        removeHere(map, key - LIVE)
        key++
      }
    }`)(performance, LIVE)
}

function renderShares (shares) {
  const lines = []
  lines.push("## Capture time at growing insert rates ('auto' against 'all')", '')
  lines.push(`A set + get + delete cycle paced at each rate (spinning between cycles stands for the rest of the server's work; the map's tick runs every second, as its timer would), 10,000 live, ttl ${TTL} ms; ${QUICK ? '1 s' : "10 s ('auto'), 3 s ('all', 'off')"} per rate after ${QUICK ? 1.2 : 2} s unmeasured, so the start-up allowance of 'auto' is already spent: this is its steady state. Capture time is summed around each capture. Target: 'auto' within its budget (1%) at every rate, and at the most this loop can do, <= 1.1x 'off' per cycle.`, '')
  lines.push(row(['inserts / s (asked)', 'mode', 'inserts / s (done)', 'share of the thread capturing', 'ns / cycle at the max rate', 'site figures']), row(['---:', '---', '---:', '---:', '---:', '---']))
  const off = shares.find(r => r.mode === 'off')
  for (const r of shares) {
    const ratio = r.mode !== 'off' ? ` (${(r.nsPerCycle / off.nsPerCycle).toFixed(2)}x 'off')` : ''
    const cycle = r.rate === Infinity ? `${r.nsPerCycle.toFixed(0)}${ratio}` : ''
    const done = r.inserts / r.seconds
    lines.push(row([r.rate === Infinity ? 'max' : r.rate.toLocaleString('en'), `'${r.mode}'`, Math.round(done).toLocaleString('en'), `${(100 * r.share).toFixed(2)}%`, cycle, r.mode === 'off' ? 'counts only' : r.estimated ? 'estimated' : 'exact']))
  }
  return lines
}

function row (cells) {
  return `| ${cells.join(' | ')} |`
}

function renderCycles ({ wall: cycles, cpu }) {
  const base = cycles.Map
  const naive = cycles['naive instrumented Map']
  const lines = []
  lines.push(`Median of ${ROUNDS} interleaved rounds, each in its own order, each contender with its own copy of the loop (monomorphic call sites); ${LIVE.toLocaleString('en')} live entries; ttl ${TTL} ms where a TTL is set. Machine noise here is ±15%: compare ratios, not absolute ns.`, '')
  lines.push('## set + get + delete cycle', '')
  lines.push(row(['contender', 'ns / cycle', 'ratio to Map', 'target', 'CPU ns / cycle, all threads']), row(['---', '---:', '---:', '---', '---:']))
  const targets = {
    "HandleMap 'off' (ttl)": `<= 1.45x Map (floor 1.3x) and < lru-cache (${(cycles['lru-cache 11 (ttl)'] / base).toFixed(2)}x)`,
    "HandleMap 'auto' (ttl, the default)": `<= 1.1x 'off' (${(cycles["HandleMap 'auto' (ttl, the default)"] / cycles["HandleMap 'off' (ttl)"]).toFixed(2)}x 'off')`,
    "HandleMap 'sampled' 1/64 (ttl)": '<= 2.0x Map',
    "HandleMap 'all' (ttl)": `<= 0.4x naive (${(cycles["HandleMap 'all' (ttl)"] / naive).toFixed(2)}x naive)`
  }
  for (const [name, ns] of Object.entries(cycles)) {
    lines.push(row([name, ns.toFixed(0), `${(ns / base).toFixed(2)}x`, targets[name] || '', `${cpu[name].toFixed(0)} (${(cpu[name] / cpu.Map).toFixed(2)}x)`]))
  }
  lines.push('', "The ratio is the JS thread's time, what a server's event loop pays. A full operation log (every ~2,700 cycles) is applied by the ledger's maintenance thread; the last column is CPU time of the whole process (that thread, V8's GC helpers and the JS thread) per cycle, from `process.cpuUsage()`.")
  return lines
}

function render (cycles, memory, expiry, reports, captureNs, shares, hold, sharesOnly = false) {
  if (sharesOnly) return renderShares(shares).join('\n')
  const lines = []
  lines.push('# Benchmarks', '')
  lines.push(`Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} x ${os.cpus()[0].model.trim()}, Node ${process.version}.`)
  lines.push(...renderCycles(cycles))
  lines.push('', '## hold() vs set + call + delete', '')
  lines.push('`map.hold(key, value, fn)` with a sync `fn`, against `set`, one call of the same closure and `delete` in a `finally` (`node bench/hold.js`):', '')
  lines.push(renderHold(hold))
  lines.push('', `One call-site capture (\`Error.captureStackTrace\`, one structured frame, interned): **${(captureNs / 1000).toFixed(1)} µs** measured alone; inside an optimized hot loop it costs more (V8 rebuilds inlined frames). 'sampled' pays one per ${64} inserts, 'all' one per insert (plus about one per 8 removes).`)
  const { pinned, defaults } = memory
  lines.push('', `## Memory at ${pinned.map.count.toLocaleString('en')} live entries (distinct \`{ id }\` objects as values; median of ${QUICK ? 1 : 3} fresh processes each)`, '')
  lines.push('V8 sizes its young generation by how fast the fill loop allocates, not by what it keeps, which moves RSS by up to ±15 bytes per entry between identical runs. The target is judged with the young generation pinned at 1 MB (`--max-semi-space-size=1`) for every contender; the default-flag figures follow.', '')
  lines.push(row(['container', 'RSS bytes / entry', 'heap bytes / entry', 'RSS ratio to Map', 'target', 'default flags: RSS / entry (ratio)']), row(['---', '---:', '---:', '---:', '---', '---:']))
  for (const [kind, m] of Object.entries(pinned)) {
    const label = kind === 'map' ? 'Map' : `HandleMap '${kind}' (ttl)`
    const target = kind === 'off' || kind === 'sampled' ? '<= 1.5x' : ''
    const plain = defaults[kind]
    lines.push(row([label, m.rssPerEntry.toFixed(0), m.heapPerEntry.toFixed(0), `${(m.rssPerEntry / pinned.map.rssPerEntry).toFixed(2)}x`, target, `${plain.rssPerEntry.toFixed(0)} (${(plain.rssPerEntry / defaults.map.rssPerEntry).toFixed(2)}x)`]))
  }
  lines.push('', '## Expiry', '')
  lines.push(`Expiring ${expiry.expiring.toLocaleString('en')} of ${expiry.total.toLocaleString('en')} entries: **${expiry.perExpiredNs.toFixed(0)} ns per expired entry** (popping the due generation off the expiry queue, then taking the entry out of the JS map).`, '')
  lines.push(row(['live entries', 'ns per tick that expires nothing']), row(['---:', '---:']))
  for (const [size, ns] of Object.entries(expiry.idleTickNs)) lines.push(row([Number(size).toLocaleString('en'), ns.toFixed(0)]))
  lines.push('', ...renderShares(shares))
  lines.push('', '## Reports', '')
  lines.push(`With ${reports.total.toLocaleString('en')} live entries over ${reports.sites} sites and ${reports.stacks} stacks: \`registry.report()\` **${reports.reportMs.toFixed(2)} ms**, \`registry.snapshot()\` **${reports.snapshotMs.toFixed(2)} ms** (target: under 5 ms each, independent of the number of entries).`, '')
  return lines.join('\n')
}

function main () {
  if (process.argv.includes('--cycles')) { // this one measurement, printed only
    console.log(renderCycles(measureCycles()).join('\n'))
    return
  }
  if (process.argv.includes('--capture-share')) { // this one measurement, printed only
    console.log(render(null, null, null, null, 0, measureCaptureShare(), null, true))
    return
  }
  console.log(`handle-ledger bench${QUICK ? ' (quick)' : ''}: cycles...`)
  const cycles = measureCycles()
  console.log('memory...')
  const memory = measureMemory(QUICK ? 200_000 : 1_000_000)
  console.log('expiry...')
  const expiry = measureExpiry()
  console.log('reports...')
  const reports = measureReports()
  const captureNs = measureCapture()
  console.log('capture share...')
  const shares = measureCaptureShare()
  console.log('hold...')
  const hold = measureHold({ quick: QUICK })
  console.log('diagnostics channels...')
  const channels = measureChannels(QUICK)
  const markdown = render(cycles, memory, expiry, reports, captureNs, shares, hold) + '\n' + renderChannels(channels) + '\n'
  console.log('\n' + markdown)
  if (!QUICK) writeKeepingSections(markdown)
}

if (require.main === module) main()
module.exports = { measureReports, measureCapture, measureMemory }
