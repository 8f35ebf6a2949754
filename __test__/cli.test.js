'use strict'
// The handle-ledger command line, spawned as a user runs it (through the
// package's `bin` entry): show and diff of files saved from this process's
// registry, --json, --html, and one-line errors with exit code 2 for files
// that are not reports. Also: saved snapshots carry schemaVersion 2 and a
// snapshot reloaded from JSON works with registry.diff().

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { HandleMap, registry } = require('..')
const manifest = require('../package.json')

const CLI = path.join(__dirname, '..', manifest.bin['handle-ledger'])
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handle-ledger-cli-'))
const maps = []
after(() => {
  for (const map of maps) map.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

function leakyRequest (map, key) { map.set(key, { key }) }

function cli (...args) {
  const result = spawnSync(CLI, args, { encoding: 'utf8', cwd: dir })
  assert.equal(result.error, undefined, String(result.error))
  return result
}

function save (name, data) {
  const file = path.join(dir, name)
  fs.writeFileSync(file, JSON.stringify(data))
  return file
}

/** Asserts a bad-input failure: exit 2, nothing on stdout, exactly one line on stderr. */
function assertOneLineError (result, pattern) {
  assert.equal(result.status, 2, result.stderr)
  assert.equal(result.stdout, '')
  assert.match(result.stderr, /^handle-ledger: [^\n]+\n$/)
  assert.match(result.stderr, pattern)
}

const map = new HandleMap({ name: 'cli-requests', callSites: 'all' })
maps.push(map)
for (let i = 0; i < 3; i++) leakyRequest(map, `r${i}`)
const older = registry.snapshot({ map: 'cli-requests' })
for (let i = 3; i < 8; i++) leakyRequest(map, `r${i}`)
map.delete('r0')
const newer = registry.snapshot({ map: 'cli-requests' })
const olderFile = save('older.json', older)
const newerFile = save('newer.json', newer)
const reportFile = save('report.json', registry.report({ map: 'cli-requests', oldest: 2 }))

test('the package declares the bin, and the script is executable with a node shebang', () => {
  assert.equal(manifest.bin['handle-ledger'], 'bin/handle-ledger.js')
  assert.ok(manifest.files.includes('bin/'))
  assert.match(fs.readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/)
  assert.ok(fs.statSync(CLI).mode & 0o111)
})

test('show renders a saved report and a saved snapshot as text', () => {
  for (const file of [reportFile, newerFile]) {
    const result = cli('show', file)
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /^cli-requests {2}live=7 {2}inserts=8 {2}removes=1 {2}expired=0/m)
    assert.match(result.stdout, /^ {2}7 live \(8 in, 1 out\) .* leakyRequest \(/m)
  }
})

test('show --json passes the document through; --html writes the page', () => {
  const json = cli('show', reportFile, '--json')
  assert.equal(json.status, 0, json.stderr)
  assert.deepEqual(JSON.parse(json.stdout), JSON.parse(fs.readFileSync(reportFile, 'utf8')))
  const out = path.join(dir, 'report.html')
  const html = cli('show', reportFile, '--html', out)
  assert.equal(html.status, 0, html.stderr)
  assert.equal(html.stdout, `wrote ${out}\n`)
  const page = fs.readFileSync(out, 'utf8')
  assert.match(page, /^<!doctype html>/i)
  assert.match(page, /<span class="map-name">cli-requests<\/span>/)
})

test('diff renders what changed between two saved snapshots, as text, JSON and HTML', () => {
  const text = cli('diff', olderFile, newerFile)
  assert.equal(text.status, 0, text.stderr)
  assert.match(text.stdout, /^cli-requests {2}live=7 \(\+4\) {2}inserts \+5 {2}removes \+1/m)
  assert.match(text.stdout, /^ {2}\+4 live \(\+5 in, \+1 out\) {2}now 7 live {2}leakyRequest \(/m)
  const json = JSON.parse(cli('diff', olderFile, newerFile, '--json').stdout)
  assert.equal(json.kind, 'diff')
  assert.equal(json.schemaVersion, 2)
  assert.deepEqual(json, JSON.parse(JSON.stringify(registry.diff(older, newer))), 'the same diff as registry.diff()')
  const out = path.join(dir, 'diff.html')
  assert.equal(cli('diff', olderFile, newerFile, `--html=${out}`).status, 0)
  assert.match(fs.readFileSync(out, 'utf8'), /what changed over/)
  const shown = cli('show', save('diff.json', json))
  assert.equal(shown.status, 0, shown.stderr)
  assert.match(shown.stdout, /^handle-ledger diff over /)
})

test('bad files: one line on stderr and exit code 2', () => {
  assertOneLineError(cli('show', path.join(dir, 'missing.json')), /cannot read .*missing\.json: ENOENT/)
  fs.writeFileSync(path.join(dir, 'empty.json'), '')
  assertOneLineError(cli('show', path.join(dir, 'empty.json')), /empty\.json is not JSON \(Unexpected end of JSON input\)$/m)
  assertOneLineError(cli('show', save('string.json', 'a report')), /string\.json: not a handle-ledger report/)
  fs.writeFileSync(path.join(dir, 'garbage.json'), '{"maps": [1, 2')
  assertOneLineError(cli('show', path.join(dir, 'garbage.json')), /garbage\.json is not JSON \(/)
  assertOneLineError(cli('show', save('other.json', { hello: 'world' })), /not a handle-ledger report, snapshot or diff/)
  assertOneLineError(cli('show', save('future.json', { ...newer, schemaVersion: 3 })), /schemaVersion 3 is not one this handle-ledger reads \(1 to 2\)/)
  assertOneLineError(cli('show', save('nameless.json', { ...newer, maps: [{ live: 1 }] })), /nameless\.json: maps\[0\] has no 'id'$/m)
  assertOneLineError(cli('show', save('sites.json', { ...newer, maps: [{ ...newer.maps[0], sites: 'many' }] })), /sites\.json: maps\[0\]\.sites must be an array, got a string$/m)
  assertOneLineError(cli('diff', olderFile, save('d.json', registry.diff(older, newer))), /already a diff/)
  assertOneLineError(cli('diff', olderFile, path.join(dir)), /cannot read .*: EISDIR/)
})

test('usage errors exit 2 with the usage; --help exits 0', () => {
  for (const args of [[], ['frobnicate'], ['show'], ['diff', olderFile], ['show', reportFile, '--json', '--html', 'x.html'], ['show', reportFile, '--pretty']]) {
    const result = cli(...args)
    assert.equal(result.status, 2, args.join(' '))
    assert.match(result.stderr, /^handle-ledger: .*\nusage: handle-ledger show FILE/, args.join(' '))
  }
  const help = cli('--help')
  assert.equal(help.status, 0)
  assert.match(help.stdout, /^usage: handle-ledger show FILE/)
})

test('--fail-on-suspect: the output as usual, then exit 1 and one line when a site is suspect; exit 0 when none is', () => {
  const leaking = new HandleMap({ name: 'cli-gate-leak', callSites: 'all' })
  maps.push(leaking)
  for (let i = 0; i < 3; i++) leakyRequest(leaking, i)
  const before = save('gate-older.json', registry.snapshot({ map: 'cli-gate-leak' }))
  for (let i = 3; i < 5; i++) leakyRequest(leaking, i)
  // judged at any age (outlierFloorMs 0): these entries are milliseconds old
  const after = save('gate-newer.json', registry.snapshot({ map: 'cli-gate-leak', outlierFloorMs: 0 }))
  const suspect = save('gate-report.json', registry.report({ map: 'cli-gate-leak', outlierFloorMs: 0 }))
  const out = path.join(dir, 'gate.html')
  for (const extra of [[], ['--json'], ['--html', out]]) {
    const result = cli('show', suspect, ...extra, '--fail-on-suspect')
    assert.equal(result.status, 1, `${extra.join(' ')}: ${result.stderr}`)
    assert.equal(result.stderr, `handle-ledger: 1 suspect site in ${suspect}\n`)
    assert.ok(result.stdout.length > 0, 'the output is written first')
  }
  assert.equal(cli('show', suspect).status, 0, 'without the flag a suspect site is no failure')
  const grown = cli('diff', before, after, '--fail-on-suspect')
  assert.equal(grown.status, 1, grown.stderr)
  assert.equal(grown.stderr, `handle-ledger: 1 suspect site in the diff of ${before} and ${after}\n`)
  assert.match(grown.stdout, /^cli-gate-leak {2}live=5 \(\+2\)/m)
  assert.equal(cli('diff', olderFile, newerFile, '--fail-on-suspect').status, 0, 'a diff with no suspect site passes')

  const balanced = new HandleMap({ name: 'cli-balanced', callSites: 'all' })
  maps.push(balanced)
  for (let i = 0; i < 3; i++) { balanced.set(i, {}); balanced.delete(i) }
  const clean = cli('show', save('balanced.json', registry.report({ map: 'cli-balanced' })), '--fail-on-suspect')
  assert.equal(clean.status, 0, clean.stderr)
  assert.equal(clean.stderr, '')
  assert.match(clean.stdout, /^cli-balanced {2}live=0 {2}inserts=3 {2}removes=3/m)
})

test('--help documents --fail-on-suspect, the schema check and the exit codes', () => {
  const help = cli('--help').stdout
  assert.match(help, /--fail-on-suspect +exit 1 when a site is suspect/)
  assert.match(help, /handle-ledger\/report\.schema\.json/)
  assert.match(help, /Exit codes: 0 done; 1 suspect sites \(with --fail-on-suspect\); 2 a bad file\n *or usage/)
})

test('an internal error (here: stdout throws) is exit code 3 with the stack, never 1, which --fail-on-suspect means', () => {
  const preload = path.join(dir, 'stdout-throws.js')
  fs.writeFileSync(preload, "process.stdout.write = () => { throw new Error('stdout is gone') }\n")
  const result = spawnSync(process.execPath, ['--require', preload, CLI, 'show', reportFile], { encoding: 'utf8', cwd: dir })
  assert.equal(result.status, 3, result.stderr)
  assert.match(result.stderr, /^handle-ledger: internal error \(please report it\): Error: stdout is gone\n {4}at /)
})

test('a snapshot carries schemaVersion 2 and, reloaded from JSON, diffs with registry.diff()', () => {
  assert.equal(older.schemaVersion, 2)
  const reloaded = JSON.parse(fs.readFileSync(olderFile, 'utf8'))
  leakyRequest(map, 'later')
  const difference = registry.diff(reloaded, registry.snapshot({ map: 'cli-requests' }))
  assert.equal(difference.maps.length, 1)
  assert.equal(difference.maps[0].name, 'cli-requests')
  assert.equal(difference.maps[0].liveDelta, 5)
  assert.equal(difference.maps[0].insertsDelta, 6)
  assert.throws(() => registry.diff({ ...reloaded, schemaVersion: 3 }, newer), { name: 'RangeError', message: /schemaVersion 3; this handle-ledger reads 1 to 2/ })
})

test('snapshots of two processes pair maps by name and thread, not by process-local id', () => {
  const restarted = JSON.parse(JSON.stringify(newer))
  restarted.pid = older.pid + 1
  restarted.maps[0].id = 9999
  const difference = registry.diff(older, restarted)
  assert.equal(difference.maps.length, 1, 'the map of the restarted process is the same map')
  assert.equal(difference.maps[0].insertsDelta, 5)
})
