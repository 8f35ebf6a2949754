'use strict'
// npm run bench:zoo: the leak zoo. Recall, false alarms and time to verdict
// of the report at the library's defaults, measured on real services over
// loopback HTTP: each lost-cleanup shape and each clean control that tempts a
// false alarm runs in a process of its own (at most 2 at a time) while
// registry.report() is polled every 100 ms. Prints the table and writes its
// section of BENCHMARKS.md (not with --quick or --only).
//
//   node bench/zoo.js [--quick] [--only shape,shape] [--parallel N]

const os = require('node:os')
const { SHAPES, runZoo } = require('../__test__/support/zoo/index.js')
const { marks, writeSection } = require('./sections.js')

const [SECTION_START, SECTION_END] = marks('zoo')
// The goal's time budget applies to sites whose clean calls end within this (p99).
const FAST_SITE_P99_MS = 100

function argument (name, fallback) {
  const at = process.argv.indexOf(name)
  return at === -1 ? fallback : process.argv[at + 1]
}

function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

const seconds = value => (value === null || value === undefined ? '-' : `${value.toFixed(1)} s`)

/** What the table says a run found: flagged at the fix line, at another line, or not at all. */
function flagged (result) {
  if (result.kind === 'control') return result.falseSuspects.length === 0 ? 'no (right)' : `yes: ${result.falseSuspects[0].line}`
  if (result.verdict) return `yes, at ${result.verdict.line}`
  if (result.firstNamed) return `at ${result.fixLine}, but not at the end`
  if (result.firstSuspect) return `at the wrong line: ${result.firstSuspect.line}`
  return 'no (missed)'
}

function verdictSeconds (result) {
  const held = seconds(result.verdict?.seconds)
  const first = result.firstNamed
  return first && first.seconds !== result.verdict?.seconds ? `${held} (first ${seconds(first.seconds)})` : held
}

function falseSuspects (result) {
  const lines = result.falseSuspects.map(suspect => `${suspect.line} (${suspect.seconds.toFixed(1)}-${seconds(suspect.lastSeconds)}, ${suspect.polls} poll${suspect.polls === 1 ? '' : 's'})`)
  return lines.length === 0 ? '0' : `${lines.length}: ${lines.join(', ')}`
}

function render (results, { quick, load }) {
  const row = cells => `| ${cells.join(' | ')} |`
  const lines = [SECTION_START, '## The leak zoo (`npm run bench:zoo`)', '']
  lines.push(`Written on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} x ${os.cpus()[0].model.trim()}, Node ${process.version}${quick ? ' (--quick)' : ''}. Each service is a real HTTP server on loopback with a HandleMap at the library's defaults, its upstream on loopback too, and an open-loop load of a few hundred requests per second at most; each runs in a process of its own, two at a time. \`registry.report()\` is polled every 100 ms; a suspect row names a line (a caller row's label, else the line the text report shows for it); "seconds to verdict" is from the first request to the first report from which on every report named the line a developer fixes (marked \`// zoo:fix\` in \`__test__/support/zoo/shapes/\`) as suspect, to the end of the run (in parentheses: when a report named it earlier, then cleared it). A false suspect is any other line a report named as suspect, at any poll (from the first to the last second it was named, and in how many polls).`, '')
  lines.push(row(['shape', 'kind', 'line to fix', 'flagged', 'seconds to verdict', 'false suspects', 'site p99 by design', 'site p99 in the report', 'run']))
  lines.push(row(['---', '---', '---', '---', '---:', '---', '---:', '---:', '---:']))
  for (const result of results) {
    lines.push(row([result.what, result.kind, result.fixLine ?? '-', flagged(result), verdictSeconds(result), falseSuspects(result), `${result.designP99Ms} ms`, `${result.siteP99Ms} ms`, `${result.seconds} s`]))
  }
  lines.push('', ...summary(results), '', `Load average when the run began: ${load.map(value => value.toFixed(1)).join(' / ')} (1 / 5 / 15 min) on ${os.cpus().length} cores. Verdict times are ages of entries and do not stretch much with load; the first polls of a run, taken while the first calls are still out, are where a loaded machine moves the startup rows.`, SECTION_END)
  return lines.join('\n')
}

function summary (results) {
  const leaks = results.filter(result => result.kind === 'leak')
  const controls = results.filter(result => result.kind === 'control')
  const found = leaks.filter(result => result.verdict)
  const falseTotal = results.reduce((sum, result) => sum + result.falseSuspects.length, 0)
  const fast = leaks.filter(result => result.designP99Ms < FAST_SITE_P99_MS)
  // A missed leak counts as never: the median is "missed" when half or more were missed.
  const times = fast.map(result => (result.verdict ? result.verdict.seconds : Infinity))
  const fastMedian = times.length === 0 ? null : median(times)
  return [
    `- Recall: ${found.length} of ${leaks.length} leaks flagged at the line to fix (goal: all).`,
    `- False suspects: ${falseTotal} (${controls.filter(result => result.falseSuspects.length > 0).length} of ${controls.length} controls flagged; goal: 0).`,
    `- Median time to verdict where the site's p99 is under ${FAST_SITE_P99_MS} ms (${fast.length} leaks, a miss counts as never): ${fastMedian === null ? '-' : Number.isFinite(fastMedian) ? `${fastMedian.toFixed(1)} s` : 'never (missed)'} (goal: under 3 s).`
  ]
}

async function main () {
  const quick = process.argv.includes('--quick')
  const only = argument('--only', null)
  const names = only ? only.split(',') : SHAPES
  for (const name of names) if (!SHAPES.includes(name)) throw new Error(`no zoo shape ${name}; shapes: ${SHAPES.join(', ')}`)
  const parallel = Number(argument('--parallel', 2))
  const secondsOf = shape => (quick ? shape.seconds.test : shape.seconds.bench)
  const load = os.loadavg()
  console.log(`bench:zoo: ${names.length} services, ${parallel} at a time`)
  const results = await runZoo(names, {
    parallel,
    secondsOf,
    onResult: result => console.log(`  ${result.shape}: ${flagged(result)}${result.verdict ? ` after ${seconds(result.verdict.seconds)}` : ''}; false suspects ${falseSuspects(result)}`)
  })
  const markdown = render(results, { quick, load })
  console.log('\n' + markdown)
  if (!quick && !only) writeSection('zoo', markdown)
}

if (require.main === module) main().catch(error => { console.error(error); process.exitCode = 1 })
