'use strict'
// One zoo shape in a process of its own (its own registry): starts the
// service, runs its load, polls registry.report() every POLL_MS and records
// when the report first named the fix line and which other lines it named as
// suspect. Sends the result to the parent over IPC.
//
//   node __test__/support/zoo/child.js <shape> <seconds>

const path = require('node:path')
const { registry, formatReport } = require('../../..')
const { fixLineOf, suspectRows } = require('./verdict.js')
const { drain } = require('./load.js')

const POLL_MS = 100
const SETTLE_MS = 1_000

async function observe (name, seconds) {
  const file = path.join(__dirname, 'shapes', `${name}.js`)
  const shape = require(file)
  const fixLine = fixLineOf(file)
  const service = await shape.start()
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000
  // The verdict holds from the first poll of the last unbroken run of polls
  // that named the fix line: a leak's site flagged at startup (nothing
  // removed yet), then cleared, then flagged for good counts from the last.
  const seen = { named: null, firstNamed: null, firstSuspect: null, falseSuspects: new Map(), polls: 0, slowestPollMs: 0 }

  function poll () {
    const before = performance.now()
    const rows = suspectRows(registry.report())
    seen.slowestPollMs = Math.max(seen.slowestPollMs, performance.now() - before)
    seen.polls++
    const at = elapsed()
    const fixRow = rows.find(row => row.line === fixLine)
    if (!fixRow) seen.named = null
    else if (seen.named === null) seen.named = { seconds: at, line: fixRow.line, reason: fixRow.reason }
    if (fixRow && seen.firstNamed === null) seen.firstNamed = seen.named
    for (const row of rows) {
      if (seen.firstSuspect === null) seen.firstSuspect = { seconds: at, line: row.line }
      if (row.line === fixLine) continue
      const suspect = seen.falseSuspects.get(row.line)
      if (suspect === undefined) {
        seen.falseSuspects.set(row.line, { line: row.line, frame: row.frame, seconds: at, lastSeconds: at, polls: 1, reason: row.reason })
      } else if (suspect.lastSeconds !== at) {
        suspect.lastSeconds = at
        suspect.polls++
      }
    }
  }

  const timer = setInterval(poll, POLL_MS)
  const load = await service.load(seconds)
  await drain(() => false, SETTLE_MS)
  clearInterval(timer)
  poll()
  const report = registry.report()
  await service.close()
  return {
    shape: name,
    kind: shape.kind,
    what: shape.what,
    designP99Ms: shape.p99Ms,
    fixLine,
    seconds,
    ranSeconds: elapsed(),
    load,
    verdict: seen.named,
    firstNamed: seen.firstNamed,
    firstSuspect: seen.firstSuspect,
    falseSuspects: [...seen.falseSuspects.values()],
    polls: seen.polls,
    slowestPollMs: seen.slowestPollMs,
    siteP99Ms: Math.max(0, ...report.maps.flatMap(map => map.sites.map(site => site.lifetime?.p99Ms ?? 0))),
    text: formatReport(report)
  }
}

if (require.main === module) {
  const [name, seconds] = process.argv.slice(2)
  observe(name, Number(seconds)).then(
    result => process.send(result, () => process.exit(0)),
    error => {
      console.error(error)
      process.exit(1)
    })
}
