'use strict'
// The command line of the soak (its engine is in __test__/support/soak.js,
// shared with the test suite):
//   node bench/soak.js --seconds 600 [--ttl 200] [--slope-limit 64] [--json]
const { soak, DEFAULTS, FLOOR_WINDOW } = require('../__test__/support/soak.js')

function parseArgs (argv) {
  const options = {}
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const v = Number(argv[++i])
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${arg} needs a positive number`)
      return v
    }
    if (arg === '--seconds') options.seconds = value()
    else if (arg === '--ttl') options.ttlMs = value()
    else if (arg === '--slope-limit') options.slopeLimitKBps = value()
    else if (arg === '--warmup') options.warmupSeconds = Number(argv[++i])
    else if (arg === '--call-sites') options.callSites = argv[++i]
    else if (arg === '--json') json = true
    else throw new Error(`unknown argument ${arg} (use --seconds N [--ttl ms] [--warmup s] [--slope-limit KB/s] [--call-sites all|sampled|off] [--json])`)
  }
  return { options, json }
}

async function main () {
  const { options, json } = parseArgs(process.argv.slice(2))
  const o = { ...DEFAULTS, ...options }
  console.log(`soak: ${o.seconds}s after a ${o.warmupSeconds}s warm-up, ttl ${o.ttlMs} ms, 1 in ${o.keepOneIn} keys left to expire, callSites ${o.callSites}, RSS slope limit ${o.slopeLimitKBps} KB/s (node ${process.version})`)
  const result = await soak({ ...options, log: line => console.log(line) })
  const f = n => n.toFixed(1)
  console.log(`ops: ${result.ops} in ${f(result.seconds)} s = ${(result.opsPerSec / 1e6).toFixed(2)}M ops/s (set+get+has+delete), ${result.keysSet} keys, ${result.reports} reports, ${result.mapsChurned} short-lived maps`)
  console.log(`RSS MB: before warm-up ${f(result.rssBeforeWarmupMB)}; measured: start ${f(result.rssMB.start)}  middle ${f(result.rssMB.middle)}  end ${f(result.rssMB.end)}   heap MB: start ${f(result.heapMB.start)}  middle ${f(result.heapMB.middle)}  end ${f(result.heapMB.end)}`)
  console.log(`RSS slope over the second half: ${f(result.slopeKBps)} KB/s (floor of each ${FLOOR_WINDOW} s; ${f(result.growthMB)} MB over the half; limit ${result.slopeLimitKBps} KB/s unless under ${result.noiseMB} MB); all samples ${f(result.rawSlopeKBps)} KB/s; heap (after GC) ${f(result.heapSlopeKBps)} KB/s`)
  console.log(`live: peak ${result.peakLive}; after the load stopped: ${result.expired} expired = ${result.leftToExpire} left to expire + ${result.stallExpiries} in-flight keys that outlived the TTL in a stall; map empty: ${result.failures.every(x => !x.startsWith('live count did not settle'))}`)
  if (!result.ok) {
    for (const failure of result.failures) console.error(`FAIL: ${failure}`)
    process.exitCode = 1
  } else {
    console.log('soak: ok')
  }
  // Last line: the whole result, samples as [t s, rss bytes, heap bytes, live].
  if (json) console.log(JSON.stringify({ ...result, samples: result.samples.map(s => [Number(s.t.toFixed(2)), s.rss, s.heap, s.live]) }))
}

if (require.main === module) {
  main().catch(error => {
    console.error(error)
    process.exitCode = 1
  })
}
