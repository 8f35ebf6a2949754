#!/usr/bin/env node
'use strict'
// handle-ledger: read saved reports, snapshots and diffs from the command line
// (as `go tool pprof` reads a saved profile).
//
//   handle-ledger show FILE [--json | --html OUT] [--fail-on-suspect]
//   handle-ledger diff OLDER NEWER [--json | --html OUT] [--fail-on-suspect]
//
// Saved files are untrusted input: each is checked against the report schema
// (report.schema.json: types and ranges of every field) before anything
// renders it. A file that cannot be read, is not JSON, or is not a
// handle-ledger report, snapshot or diff gets one line on stderr and exit
// code 2 (as a usage error). --fail-on-suspect makes a suspect site exit 1,
// so a saved report can fail a CI pipeline.
// The CLI loads no native code: it works on any machine with Node.

const fs = require('node:fs')
const { formatReport, clean } = require('../lib/shared/format.js')
const { renderReportPage, renderDiffPage } = require('../lib/http/html.js')
const { diff, SCHEMA_VERSION } = require('../lib/report/snapshot.js')
const { reportProblem } = require('../lib/report/report-schema.js')

const USAGE = `usage: handle-ledger show FILE [--json | --html OUT] [--fail-on-suspect]
       handle-ledger diff OLDER NEWER [--json | --html OUT] [--fail-on-suspect]

  show   renders a saved report, snapshot or diff (JSON from registry.report(),
         registry.snapshot(), registry.diff() or /debug/handles?format=json) as text
  diff   what changed from the OLDER snapshot (or report) to the NEWER one
  --json write the JSON instead of text
  --html OUT   write the /debug/handles page to the file OUT
  --fail-on-suspect   exit 1 when a site is suspect (after writing the output),
         so a saved report or diff can fail a CI pipeline; in tests, leakCheck()
         is the same gate

  Files are checked against handle-ledger/report.schema.json first.
  Exit codes: 0 done; 1 suspect sites (with --fail-on-suspect); 2 a bad file
  or usage; 3 an internal error (a bug in handle-ledger: please report it).
`
const EXIT_SUSPECT = 1
const EXIT_BAD_INPUT = 2
const EXIT_INTERNAL = 3

class BadInput extends Error {}

/** `{ command, files, json, html, failOnSuspect }` from argv; BadInput with the problem otherwise. */
function parseArguments (args) {
  const options = { command: args[0], files: [], json: false, html: null, failOnSuspect: false }
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--json') options.json = true
    else if (arg === '--fail-on-suspect') options.failOnSuspect = true
    else if (arg === '--html') {
      if (i + 1 >= args.length) throw new BadInput('--html needs an output file name')
      options.html = args[++i]
    } else if (arg.startsWith('--html=')) options.html = arg.slice(7)
    else if (arg.startsWith('-') && arg !== '-') throw new BadInput(`unknown option ${arg}`)
    else options.files.push(arg)
  }
  if (options.json && options.html !== null) throw new BadInput('--json and --html exclude each other')
  const wanted = { show: 1, diff: 2 }[options.command]
  if (wanted === undefined) throw new BadInput(options.command === undefined ? 'no command' : `unknown command ${JSON.stringify(options.command)}`)
  if (options.files.length !== wanted) throw new BadInput(`${options.command} takes ${wanted === 1 ? 'one file' : 'two files'}, got ${options.files.length}`)
  return options
}

/** What is wrong with `data` as a saved document, in one sentence; null when it conforms. */
function documentProblem (data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data) || !Array.isArray(data.maps)) {
    return 'not a handle-ledger report, snapshot or diff (no "maps" list)'
  }
  const problem = reportProblem(data)
  if (problem === null) return null
  if (problem.path === 'schemaVersion') {
    return `schemaVersion ${JSON.stringify(data.schemaVersion)} is not one this handle-ledger reads (1 to ${SCHEMA_VERSION}); upgrade handle-ledger`
  }
  return problem.message
}

// Version-1 files may lack these; the renderers expect them.
function fillDefaults (data) {
  if (data.kind === undefined) data.kind = 'report'
  for (const map of data.maps) {
    if (map.sites === undefined) map.sites = []
    for (const site of map.sites) if (site.removedAt === undefined) site.removedAt = []
  }
}

/** The parsed, checked document in `file`; BadInput (one line) when it is not one. */
function load (file) {
  let text
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (error) {
    throw new BadInput(`cannot read ${file}: ${error.code || error.message}`)
  }
  let data
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw new BadInput(`${file} is not JSON (${error.message})`)
  }
  const problem = documentProblem(data)
  if (problem !== null) throw new BadInput(`${file}: ${problem}`)
  fillDefaults(data)
  return data
}

function render (data, options) {
  if (options.json) return { text: JSON.stringify(data, null, 2) + '\n' }
  if (options.html !== null) {
    return { file: options.html, text: data.kind === 'diff' ? renderDiffPage(data) : renderReportPage(data) }
  }
  return { text: formatReport(data) }
}

function suspectSites (data) {
  return data.maps.reduce((sum, map) => sum + map.sites.filter(site => site.suspect).length, 0)
}

/** Writes the output; returns the exit code. */
function run (args) {
  const options = parseArguments(args)
  let data
  let source
  if (options.command === 'show') {
    source = options.files[0]
    data = load(source)
  } else {
    const [older, newer] = options.files.map(load)
    for (const [file, loaded] of [[options.files[0], older], [options.files[1], newer]]) {
      if (loaded.kind === 'diff') throw new BadInput(`${file} is already a diff: diff takes two snapshots or reports`)
    }
    source = `the diff of ${options.files[0]} and ${options.files[1]}`
    data = diff(older, newer)
  }
  const output = render(data, options)
  if (output.file === undefined) {
    process.stdout.write(output.text)
  } else {
    try {
      fs.writeFileSync(output.file, output.text)
    } catch (error) {
      throw new BadInput(`cannot write ${output.file}: ${error.code || error.message}`)
    }
    process.stdout.write(`wrote ${output.file}\n`)
  }
  const suspects = options.failOnSuspect ? suspectSites(data) : 0
  if (suspects === 0) return 0
  process.stderr.write(`handle-ledger: ${clean(`${suspects} suspect site${suspects === 1 ? '' : 's'} in ${source}`)}\n`)
  return EXIT_SUSPECT
}

function main () {
  const args = process.argv.slice(2)
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h' || args[0] === 'help')) {
    process.stdout.write(USAGE)
    return
  }
  try {
    process.exitCode = run(args)
  } catch (error) {
    if (!(error instanceof BadInput)) {
      process.stderr.write(`handle-ledger: internal error (please report it): ${error && error.stack}\n`)
      process.exitCode = EXIT_INTERNAL
      return
    }
    // One line, whatever the file put in the names it shows.
    process.stderr.write(`handle-ledger: ${clean(error.message)}\n`)
    if (/^(no command|unknown (command|option)|--|show takes|diff takes)/.test(error.message)) process.stderr.write(USAGE)
    process.exitCode = EXIT_BAD_INPUT
  }
}

main()
