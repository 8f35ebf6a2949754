'use strict'
// The command line of the fuzz (its engine is in __test__/support/fuzz.js,
// shared with the test suite).
const { fuzz, runCase, reproduction, parseCase } = require('../__test__/support/fuzz.js')

async function main () {
  const argv = process.argv.slice(2)
  const options = { log: line => console.log(line) }
  let replay = null
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--seconds') options.seconds = Number(argv[++i])
    else if (arg === '--seed') options.seed = Number(argv[++i]) >>> 0
    else if (arg === '--cases') options.cases = Number(argv[++i])
    else if (arg === '--max-ops') options.maxOps = Number(argv[++i])
    else if (arg === '--replay') replay = argv[++i]
    else {
      console.error(`unknown argument ${arg}\nusage: node bench/fuzz.js --seconds N [--seed S] [--cases N] [--max-ops N] | --replay case.json`)
      process.exit(2)
    }
  }
  if (replay !== null) {
    const testCase = parseCase(require('node:fs').readFileSync(replay, 'utf8'))
    const result = runCase(testCase)
    if (result.failure === null) {
      console.log(`replay: no divergence (${result.ops} operations)`)
      return
    }
    console.log(`replay: ${result.failure.check}: ${result.failure.message}\n\n${reproduction(testCase, result.failure)}`)
    process.exitCode = 1
    return
  }
  const started = Date.now()
  const result = await fuzz(options)
  const secs = (Date.now() - started) / 1000
  if (result.ok) {
    console.log(`fuzz: ${result.ops} operations in ${result.cases} cases, ${secs.toFixed(1)} s (${Math.round(result.ops / secs)} ops/s), seed ${result.seed}: no divergence`)
    return
  }
  const f = result.failure
  console.log(`fuzz: DIVERGENCE after ${result.ops} operations in ${result.cases} cases (seed ${result.seed}, case seed ${f.caseSeed})`)
  console.log(`${f.check}: ${f.message}`)
  console.log(`minimised from ${f.originalLength} to ${f.case.ops.length} operations. Reproduction:\n\n${f.reproduction}\n`)
  console.log(`replay: save this line to case.json and run node bench/fuzz.js --replay case.json\n${f.json}`)
  process.exitCode = 1
}

if (require.main === module) {
  main().catch(error => {
    console.error(error)
    process.exitCode = 1
  })
}
