#!/usr/bin/env node
'use strict'
// handle-ledger: read saved reports, snapshots and diffs from the command line
// (as `go tool pprof` reads a saved profile).
//
//   handle-ledger show FILE [--json | --html OUT]
//   handle-ledger diff OLDER NEWER [--json | --html OUT]
//
// A file that cannot be read, is not JSON, or is not a handle-ledger report,
// snapshot or diff gets one line on stderr and exit code 2 (as a usage error).
// The CLI loads no native code: it works on any machine with Node.

const fs = require('node:fs')
const { formatReport } = require('../lib/shared/format.js')
const { renderReportPage, renderDiffPage } = require('../lib/http/html.js')
const { diff, SCHEMA_VERSION } = require('../lib/report/snapshot.js')

const USAGE = `usage: handle-ledger show FILE [--json | --html OUT]
       handle-ledger diff OLDER NEWER [--json | --html OUT]

  show   renders a saved report, snapshot or diff (JSON from registry.report(),
         registry.snapshot(), registry.diff() or /debug/handles?format=json) as text
  diff   what changed from the OLDER snapshot (or report) to the NEWER one
  --json write the JSON instead of text
  --html OUT   write the /debug/handles page to the file OUT
`
const FIGURES = ['live', 'inserts', 'removes', 'expired']
const EXIT_BAD_INPUT = 2

class BadInput extends Error {}

/** `{ command, files, json, html }` from argv; BadInput with the problem otherwise. */
function parseArguments (args) {
  const options = { command: args[0], files: [], json: false, html: null }
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--json') options.json = true
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

function isCount (value) {
  return typeof value === 'number' && Number.isFinite(value)
}

/** Fills what older files may lack and rejects what would render wrong. */
function checkMap (map, index, kind) {
  const where = `maps[${index}]`
  if (map === null || typeof map !== 'object') throw new BadInput(`${where} is not an object`)
  if (typeof map.name !== 'string') throw new BadInput(`${where} has no name`)
  const figures = kind === 'diff' ? FIGURES.map(figure => `${figure}Delta`) : FIGURES
  for (const figure of figures) {
    if (!isCount(map[figure])) throw new BadInput(`${where} (${JSON.stringify(map.name)}) has no number '${figure}'`)
  }
  if (map.sites === undefined) map.sites = []
  if (!Array.isArray(map.sites)) throw new BadInput(`${where} (${JSON.stringify(map.name)}) has a 'sites' that is not a list`)
  map.sites.forEach((site, i) => {
    if (site === null || typeof site !== 'object' || !isCount(site.live)) throw new BadInput(`${where}.sites[${i}] is not a site`)
    if (site.removedAt === undefined) site.removedAt = []
  })
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
  try {
    if (data === null || typeof data !== 'object' || Array.isArray(data) || !Array.isArray(data.maps)) {
      throw new BadInput('not a handle-ledger report, snapshot or diff (no "maps" list)')
    }
    const version = data.schemaVersion === undefined ? 1 : data.schemaVersion
    if (!Number.isInteger(version) || version < 1 || version > SCHEMA_VERSION) {
      throw new BadInput(`schemaVersion ${JSON.stringify(data.schemaVersion)} is not one this handle-ledger reads (1 to ${SCHEMA_VERSION}); upgrade handle-ledger`)
    }
    if (data.kind === undefined) data.kind = 'report'
    if (!['report', 'snapshot', 'diff'].includes(data.kind)) throw new BadInput(`unknown kind ${JSON.stringify(data.kind)}`)
    const timed = data.kind === 'diff' ? ['from', 'to', 'durationMs'] : ['at']
    for (const field of timed) if (!isCount(data[field])) throw new BadInput(`no number '${field}'`)
    data.maps.forEach((map, i) => checkMap(map, i, data.kind))
  } catch (error) {
    if (error instanceof BadInput) throw new BadInput(`${file}: ${error.message}`)
    throw error
  }
  return data
}

function render (data, options) {
  if (options.json) return { text: JSON.stringify(data, null, 2) + '\n' }
  if (options.html !== null) {
    return { file: options.html, text: data.kind === 'diff' ? renderDiffPage(data) : renderReportPage(data) }
  }
  return { text: formatReport(data) }
}

function run (args) {
  const options = parseArguments(args)
  let data
  if (options.command === 'show') {
    data = load(options.files[0])
  } else {
    const [older, newer] = options.files.map(load)
    for (const [file, loaded] of [[options.files[0], older], [options.files[1], newer]]) {
      if (loaded.kind === 'diff') throw new BadInput(`${file} is already a diff: diff takes two snapshots or reports`)
    }
    data = diff(older, newer)
  }
  const output = render(data, options)
  if (output.file === undefined) {
    process.stdout.write(output.text)
    return
  }
  try {
    fs.writeFileSync(output.file, output.text)
  } catch (error) {
    throw new BadInput(`cannot write ${output.file}: ${error.code || error.message}`)
  }
  process.stdout.write(`wrote ${output.file}\n`)
}

function main () {
  const args = process.argv.slice(2)
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h' || args[0] === 'help')) {
    process.stdout.write(USAGE)
    return
  }
  try {
    run(args)
  } catch (error) {
    if (!(error instanceof BadInput)) throw error
    const line = error.message.replace(/[\r\n]+/g, ' ')
    process.stderr.write(`handle-ledger: ${line}\n`)
    if (/^(no command|unknown (command|option)|--|show takes|diff takes)/.test(error.message)) process.stderr.write(USAGE)
    process.exitCode = EXIT_BAD_INPUT
  }
}

main()
