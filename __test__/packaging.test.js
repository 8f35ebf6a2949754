'use strict'
// The package as npm users get it. From this built tree: pack the main package
// (as `napi prepublish` leaves it for publishing) and this platform's binary
// package, install both tarballs into a fresh directory with no network, an
// empty npm cache and no Rust toolchain on PATH, then require() it and find a
// leak at its line. Also: the main tarball alone carries no binary and fails
// with an error that explains what is missing.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')
const { detectPlatform } = require('../lib/native-loader.js')
const { markerLines } = require('./support/source.js')

const root = path.join(__dirname, '..')
const platform = detectPlatform().key
const binaryName = `handle-ledger.${platform}.node`
const builtBinary = path.join(root, binaryName)
const napiCli = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js')
const npmCli = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'handle-ledger-packaging-'))
test.after(() => fs.rmSync(work, { recursive: true, force: true }))

// No cargo/rustc: only the directories of node and the system's basic tools.
const noRustPath = [...new Set([path.dirname(process.execPath), '/usr/bin', '/bin'])].join(path.delimiter)

function run(file, args, options = {}) {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options })
}

// npm as installed beside this node (so the install's PATH needs nothing else),
// or the npm on PATH where node's layout differs.
function npm(args, cwd, env = process.env) {
  if (fs.existsSync(npmCli)) return run(process.execPath, [npmCli, ...args], { cwd, env })
  return run('npm', args, { cwd, env: { ...env, PATH: process.env.PATH } })
}

function tarballFiles(tarball) {
  return run('tar', ['tzf', tarball]).split('\n').filter(Boolean).map(file => file.replace(/^package\//, ''))
}

/** Packs the main package the way publishing does, and the binary package. */
function packForRelease() {
  assert.ok(fs.existsSync(builtBinary), `${binaryName} is missing: npm run build first`)
  const tarballs = path.join(work, 'tarballs')
  fs.mkdirSync(tarballs)
  // What `files` puts in the package, taken from this tree by npm itself.
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', tarballs], root))
  const stage = path.join(work, 'stage')
  fs.mkdirSync(stage)
  run('tar', ['xzf', path.join(tarballs, packed.filename), '-C', stage, '--strip-components=1'])
  fs.rmSync(path.join(tarballs, packed.filename))
  fs.cpSync(path.join(root, 'npm', platform), path.join(stage, 'npm', platform), { recursive: true })
  fs.copyFileSync(builtBinary, path.join(stage, 'npm', platform, binaryName))
  // prepublishOnly's command, restricted to the one target built here (with all
  // targets it refuses to run until every binary is in npm/). It writes the
  // main package's optionalDependencies; it reads the release commit from git.
  const config = path.join(work, 'napi-one-target.json')
  fs.writeFileSync(config, JSON.stringify({ binaryName: 'handle-ledger', targets: [require('../package.json').napi.targets.find(t => targetKey(t) === platform)] }))
  run('git', ['init', '-q'], { cwd: stage })
  run('git', ['-c', 'user.email=ci@localhost', '-c', 'user.name=ci', 'commit', '-q', '--allow-empty', '-m', 'release'], { cwd: stage })
  run(process.execPath, [napiCli, 'prepublish', '-t', 'npm', '--skip-optional-publish', '-c', config], { cwd: stage })
  const [main] = JSON.parse(npm(['pack', '--json', '--pack-destination', tarballs], stage))
  const [binary] = JSON.parse(npm(['pack', '--json', '--pack-destination', tarballs], path.join(stage, 'npm', platform)))
  return { main: path.join(tarballs, main.filename), binary: path.join(tarballs, binary.filename), stage }
}

function targetKey(triple) {
  const [arch, , system, abi] = triple.split('-')
  const cpu = { x86_64: 'x64', aarch64: 'arm64' }[arch]
  if (system === 'linux') return `linux-${cpu}-${abi}`
  if (system === 'darwin') return `darwin-${cpu}`
  return `win32-${cpu}-${triple.split('-').pop()}`
}

/** A fresh app directory with the tarballs installed offline from an empty cache. */
function installApp(name, tarballs) {
  const app = path.join(work, name)
  fs.mkdirSync(app)
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  const env = { ...process.env, PATH: noRustPath, npm_config_cache: path.join(work, `${name}-cache`) }
  delete env.CARGO_HOME
  delete env.RUSTUP_HOME
  npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts=false', ...tarballs], app, env)
  return { app, env }
}

let release
test.before(() => { release = packForRelease() })

test('the main tarball carries the JS, the types and the loader but no binary', () => {
  const files = tarballFiles(release.main)
  for (const file of ['package.json', 'index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'lib/map/handle-map.js', 'lib/report/registry.js', 'lib/http/debug-handles.js', 'lib/http/plugins/express.js', 'lib/shared/format.js', 'lib/native-loader.js', 'report.schema.json', 'LICENSE', 'README.md', 'CHANGELOG.md']) {
    assert.ok(files.includes(file), `${file} is in the main tarball: ${files.join(', ')}`)
  }
  assert.deepEqual(files.filter(file => file.endsWith('.node')), [])
  assert.deepEqual(files.filter(file => /^(src|__test__|bench|npm|scripts|target)\//.test(file)), [])
  const published = JSON.parse(fs.readFileSync(path.join(release.stage, 'package.json'), 'utf8'))
  assert.deepEqual(published.optionalDependencies, { [`handle-ledger-${platform}`]: published.version })
  assert.deepEqual(tarballFiles(release.binary).sort(), ['LICENSE', 'README.md', binaryName, 'package.json'].sort())
})

test('installed from the two tarballs with no Rust and no network, it finds a leak at its line', () => {
  assert.notEqual(spawnSync('sh', ['-c', 'command -v cargo || command -v rustc'], { env: { PATH: noRustPath } }).status, 0, 'no Rust toolchain on the install PATH')
  const { app, env } = installApp('app', [release.main, release.binary])
  const installed = path.join(app, 'node_modules', 'handle-ledger')
  assert.deepEqual(fs.readdirSync(installed).filter(file => file.endsWith('.node')), [])
  fs.copyFileSync(path.join(__dirname, 'packaging', 'leak.js'), path.join(app, 'leak.js'))
  const report = JSON.parse(run(process.execPath, ['leak.js'], { cwd: app, env }))
  const line = markerLines(path.join(app, 'leak.js'))('leaky-insert')
  assert.equal(report.live, 5)
  assert.equal(report.sites.length, 1)
  const [site] = report.sites
  assert.match(site.site, new RegExp(`^startCall \\(.*leak\\.js:${line}:\\d+\\)$`))
  assert.equal(site.suspect, true)
  assert.equal(site.inserts, 5)
  assert.equal(site.removes, 0)
})

test('import from the installed package: one instance with require(), every export named, lib/ closed, the report schema exported', () => {
  const app = path.join(work, 'app')
  fs.copyFileSync(path.join(__dirname, 'packaging', 'esm.mjs'), path.join(app, 'esm.mjs'))
  const result = JSON.parse(run(process.execPath, ['esm.mjs'], { cwd: app, env: { ...process.env, PATH: noRustPath } }))
  assert.deepEqual(result, {
    missingNames: [],
    exported: {
      root: ['HandleLeakError', 'HandleMap', 'formatReport', 'instrument', 'leakCheck', 'registry', 'setAppFrame', 'uninstrument'],
      http: ['debugHandles', 'handleLedgerExpress', 'handleLedgerFastify', 'handleLedgerKoa'],
      metrics: ['registerMetrics', 'registerOpenTelemetry']
    },
    sameDefault: true,
    size: 1,
    deepImport: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    schemaTitle: require('../report.schema.json').title
  })
})

test('without its binary package, require() names the platform, the supported ones and how to build from source', () => {
  const { app, env } = installApp('app-no-binary', [release.main])
  const failed = spawnSync(process.execPath, ['-e', "require('handle-ledger')"], { cwd: app, env, encoding: 'utf8' })
  assert.notEqual(failed.status, 0)
  assert.match(failed.stderr, new RegExp(`no native binary loads on this platform: ${platform} \\(`))
  if (platform.startsWith('linux-')) assert.match(failed.stderr, platform.endsWith('-gnu') ? /glibc \d+\.\d+/ : /musl libc/)
  assert.match(failed.stderr, /Supported: linux-x64-gnu .*linux-arm64-gnu .*linux-x64-musl .*linux-arm64-musl .*darwin-x64 .*darwin-arm64 .*win32-x64-msvc/)
  assert.match(failed.stderr, new RegExp(`handle-ledger-${platform}: not installed`))
  assert.match(failed.stderr, /Build from source .*npm run build.*HANDLE_LEDGER_NATIVE_PATH/)
  assert.doesNotMatch(failed.stderr, /npm has a bug/)

  // The way out it gives: a binary built from source, by path.
  const fixed = run(process.execPath, ['-e', "const m = new (require('handle-ledger').HandleMap)(); m.set(1, 1); process.stdout.write(String(m.size))"],
    { cwd: app, env: { ...env, HANDLE_LEDGER_NATIVE_PATH: builtBinary } })
  assert.equal(fixed, '1')
})
