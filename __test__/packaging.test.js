'use strict'
// The package as npm users get it. From this built tree: pack the main package
// (as `napi prepublish` leaves it for publishing) and this platform's binary
// package, install both tarballs into a fresh directory with no network, an
// empty npm cache and no Rust toolchain on PATH, then require() it and find a
// leak at its line; release:check's smoke test (scripts/release/smoke.js)
// passes there too. Also: the main tarball alone carries no binary and fails
// with an error that explains what is missing, and the platform package
// refuses to pack the `testing` build `npm test` makes. Staging and installing
// are scripts/release/stage.js, shared with `npm run release:check`, which
// does all this with the release binaries of the four Linux targets.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')
const { detectPlatform } = require('../lib/native-loader.js')
const { markerLines } = require('./support/source.js')
const { binaryFeatures } = require('../scripts/release/binary-features.js')
const { stageAndPack, installApp, npm, NO_RUST_PATH } = require('../scripts/release/stage.js')

const root = path.join(__dirname, '..')
const platform = detectPlatform().key
const binaryName = `handle-ledger.${platform}.node`
const builtBinary = path.join(root, binaryName)
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'handle-ledger-packaging-'))
test.after(() => fs.rmSync(work, { recursive: true, force: true }))

function run (file, args, options = {}) {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options })
}

function tarballFiles (tarball) {
  return run('tar', ['tzf', tarball]).split('\n').filter(Boolean).map(file => file.replace(/^package\//, ''))
}

/**
 * Packs the main package the way publishing does, and this machine's binary
 * package. `npm test` builds with the `testing` feature, which the platform
 * package's prepack refuses (asserted below): this tarball is packed without
 * scripts and never leaves this test's temporary directory.
 */
function packForRelease () {
  assert.ok(fs.existsSync(builtBinary), `${binaryName} is missing: npm run build first`)
  return stageAndPack({ root, out: path.join(work, 'release'), keys: [platform], binaries: { [platform]: builtBinary }, ignoreScripts: true })
}

let release
test.before(() => {
  release = packForRelease()
  release.binary = release.platforms[platform]
})

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
  assert.notEqual(spawnSync('sh', ['-c', 'command -v cargo || command -v rustc'], { env: { PATH: NO_RUST_PATH } }).status, 0, 'no Rust toolchain on the install PATH')
  const { app, env } = installApp({ out: work, name: 'app', tarballs: [release.main, release.binary] })
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
  const app = path.join(work, 'apps', 'app')
  fs.copyFileSync(path.join(__dirname, 'packaging', 'esm.mjs'), path.join(app, 'esm.mjs'))
  const result = JSON.parse(run(process.execPath, ['esm.mjs'], { cwd: app, env: { ...process.env, PATH: NO_RUST_PATH } }))
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

test("release:check's smoke test passes in the installed app, and the binary reports the testing feature npm test built it with", () => {
  const app = path.join(work, 'apps', 'app')
  fs.copyFileSync(path.join(__dirname, '..', 'scripts', 'release', 'smoke.js'), path.join(app, 'smoke.js'))
  const output = run(process.execPath, ['smoke.js', `handle-ledger-${platform}`], { cwd: app, env: { ...process.env, PATH: NO_RUST_PATH } })
  const result = JSON.parse(output)
  const line = markerLines(path.join(app, 'smoke.js'))('leaky-insert')
  assert.equal(result.leak, `smoke.js:${line}`)
  assert.equal(result.esm, true)
  assert.equal(result.route, 200)
  assert.ok(result.workerThreadId > 0)
  assert.deepEqual(result.features, ['testing'])
})

test("a platform package's prepack refuses a testing build, so it can be neither packed nor published", () => {
  const dir = path.join(release.stage, 'npm', platform)
  const destination = fs.mkdtempSync(path.join(work, 'refused-'))
  assert.throws(() => npm(run, ['pack', '--pack-destination', destination], { cwd: dir }),
    error => new RegExp(`handle-ledger\\.${platform}\\.node was built with the Cargo feature\\(s\\) testing`).test(error.stderr))
  assert.deepEqual(fs.readdirSync(destination), [])
  assert.deepEqual(binaryFeatures(builtBinary), ['testing'])
})

test('without its binary package, require() names the platform, the supported ones and how to build from source', () => {
  const { app, env } = installApp({ out: work, name: 'app-no-binary', tarballs: [release.main] })
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
