'use strict'
// The loader's choices and its error, with the platform and the loading
// simulated (packaging.test.js checks the real missing-package case).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { loadNative, detectPlatform, SUPPORTED } = require('../lib/native-loader.js')
const packageJson = require('../package.json')

const ROOT = path.join(__dirname, '..')
// What loadNative() checks of a binding: the entry points the facade calls and its version.
const fakeBinding = (version = packageJson.version) => ({
  NativeLedger () {}, opCodes () {}, internStack () {}, describeSite () {}, registryReport () {}, registryTotals () {}, bindingVersion: () => version
})
const notFound = id => Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' })

test('an unsupported platform: no prebuilt binary, the supported list, how to build', () => {
  const error = (() => {
    try { loadNative({ platform: { key: 'freebsd-x64', description: 'freebsd x64' }, load: id => { throw notFound(id) }, env: {} }) } catch (e) { return e }
  })()
  assert.equal(error.code, 'HANDLE_LEDGER_NO_BINARY')
  assert.match(error.message, /no native binary loads on this platform: freebsd-x64 \(freebsd x64\)/)
  assert.match(error.message, /This platform has no prebuilt binary/)
  assert.match(error.message, /Build from source/)
  assert.match(error.message, /handle-ledger-freebsd-x64: not installed/)
  assert.deepEqual(error.supported, Object.keys(SUPPORTED))
})

test('a binary that is there but cannot load (e.g. a newer glibc) is quoted', () => {
  const load = id => { throw id.endsWith('.node') ? notFound(id) : new Error("/lib/libc.so.6: version `GLIBC_2.34' not found\nmore") }
  assert.throws(() => loadNative({ platform: { key: 'linux-x64-gnu', description: 'linux x64, glibc 2.31' }, load, env: {} }),
    error => /This platform is supported/.test(error.message) &&
      /handle-ledger-linux-x64-gnu: \/lib\/libc\.so\.6: version `GLIBC_2\.34' not found$/m.test(error.message))
})

test('HANDLE_LEDGER_NATIVE_PATH is tried first', () => {
  const tried = []
  const built = fakeBinding()
  const binding = loadNative({ platform: { key: 'linux-x64-gnu', description: '' }, load: id => { tried.push(id); return built }, env: { HANDLE_LEDGER_NATIVE_PATH: 'built/x.node' } })
  assert.equal(binding, built)
  assert.deepEqual(tried, [path.resolve('built/x.node')])
})

test('HANDLE_LEDGER_NATIVE_PATH set is the only candidate: a file that does not load throws, naming it and why', () => {
  const tried = []
  const load = id => {
    tried.push(id)
    if (id === path.resolve('missing.node')) throw notFound(id)
    if (id === path.resolve('old-glibc.node')) throw new Error("/lib/libc.so.6: version `GLIBC_2.34' not found\nmore")
    return fakeBinding()
  }
  const platform = { key: 'linux-x64-gnu', description: '' }
  assert.throws(() => loadNative({ platform, load, env: { HANDLE_LEDGER_NATIVE_PATH: 'missing.node' } }), error =>
    error.code === 'HANDLE_LEDGER_BAD_NATIVE_PATH' && error.path === path.resolve('missing.node') &&
    error.message.includes(`HANDLE_LEDGER_NATIVE_PATH names ${path.resolve('missing.node')}, which does not load: no such file`))
  assert.throws(() => loadNative({ platform, load, env: { HANDLE_LEDGER_NATIVE_PATH: 'old-glibc.node' } }),
    /old-glibc\.node, which does not load: \/lib\/libc\.so\.6: version `GLIBC_2\.34' not found\. /)
  assert.deepEqual(tried, [path.resolve('missing.node'), path.resolve('old-glibc.node')], 'nothing else was tried')
  // Empty is unset: the usual places are tried.
  assert.ok(loadNative({ platform, load: () => fakeBinding(), env: { HANDLE_LEDGER_NATIVE_PATH: '' } }))
})

test('something that loads but is not this binding, or is another version of it, is refused with the loader\'s error', () => {
  const platform = { key: 'linux-x64-gnu', description: '' }
  const named = (binding, options = {}) => loadNative({ platform, load: () => binding, env: { HANDLE_LEDGER_NATIVE_PATH: 'x.node' }, ...options })
  const { bindingVersion, ...unversioned } = fakeBinding()
  for (const [binding, reason] of [
    [{ name: 'a JSON file' }, /it is not a handle-ledger binding \(it has no NativeLedger, opCodes, internStack, describeSite, registryReport, registryTotals\)/],
    [null, /it is not a handle-ledger binding \(it exports null\)/],
    [42, /it exports number/],
    [{ ...fakeBinding(), get opCodes () { throw new Error('hostile getter') } }, /reading its exports threw: hostile getter/],
    [unversioned, /older than this package .* \(it reports no version\): rebuild it/],
    [fakeBinding('0.0.9'), new RegExp(`it is a handle-ledger 0\\.0\\.9 binding, and this package is ${packageJson.version.replace(/\./g, '\\.')}: rebuild it`)]
  ]) {
    assert.throws(() => named(binding), error => error.code === 'HANDLE_LEDGER_BAD_NATIVE_PATH' && reason.test(error.message), String(reason))
  }
  // Found in the usual places, a wrong one is listed and the next place tried.
  const good = fakeBinding()
  const loads = { [path.join(ROOT, 'handle-ledger.linux-x64-gnu.node')]: fakeBinding('0.0.9'), 'handle-ledger-linux-x64-gnu': good }
  const load = id => { if (!(id in loads)) throw notFound(id); return loads[id] }
  const exists = fs.existsSync(path.join(ROOT, 'handle-ledger.linux-x64-gnu.node'))
  if (exists) assert.equal(loadNative({ platform, load, env: {} }), good)
  loads['handle-ledger-linux-x64-gnu'] = { other: true }
  assert.throws(() => loadNative({ platform, load, env: {} }), error => error.code === 'HANDLE_LEDGER_NO_BINARY' &&
    /handle-ledger-linux-x64-gnu: it is not a handle-ledger binding/.test(error.message) &&
    (!exists || /\.\/handle-ledger\.linux-x64-gnu\.node: it is a handle-ledger 0\.0\.9 binding/.test(error.message)))
})

/** `require('handle-ledger')` in a child process with HANDLE_LEDGER_NATIVE_PATH=`named`. */
function requireWith (named) {
  return spawnSync(process.execPath, ['-e', 'require(process.argv[1]); console.log("loaded")', ROOT],
    { encoding: 'utf8', env: { ...process.env, HANDLE_LEDGER_NATIVE_PATH: named } })
}

test('require() with HANDLE_LEDGER_NATIVE_PATH naming a missing file, a JSON file or another addon throws the loader\'s error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hl-native-path-'))
  try {
    const json = path.join(dir, 'not-a-binding.json')
    fs.writeFileSync(json, '{"opCodes": 1}')
    const otherAddon = require.resolve('@napi-rs/tar-linux-x64-gnu')
    const cases = [
      [path.join(dir, 'missing.node'), /which does not load: no such file/],
      [json, /which does not load: it is not a handle-ledger binding \(it has no NativeLedger, opCodes/],
      [otherAddon, /which does not load: it is not a handle-ledger binding \(it has no NativeLedger/]
    ]
    for (const [named, reason] of cases) {
      const child = requireWith(named)
      assert.notEqual(child.status, 0, named)
      assert.doesNotMatch(child.stdout, /loaded/, named)
      assert.ok(child.stderr.includes(`HANDLE_LEDGER_NATIVE_PATH names ${named}, which does not load`), child.stderr)
      assert.match(child.stderr, reason)
      assert.doesNotMatch(child.stderr, /is not a function/)
    }
    // The real build, named, loads.
    const built = requireWith(path.join(ROOT, `handle-ledger.${detectPlatform().key}.node`))
    assert.equal(built.stdout.trim(), 'loaded', built.stderr)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('the binding reports the package version (Cargo.toml and package.json agree)', () => {
  assert.equal(require('../binding.js').bindingVersion(), packageJson.version)
  const cargo = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(/^version = "([^"]+)"$/m)
  assert.equal(cargo[1], packageJson.version)
})

test('platform keys: libc on Linux, msvc on Windows', () => {
  assert.equal(detectPlatform('linux', 'arm64', () => ({ libc: 'musl', version: null })).key, 'linux-arm64-musl')
  assert.equal(detectPlatform('linux', 'x64', () => ({ libc: 'gnu', version: '2.17' })).description, 'linux x64, glibc 2.17')
  assert.equal(detectPlatform('win32', 'x64').key, 'win32-x64-msvc')
  assert.equal(detectPlatform('darwin', 'arm64').key, 'darwin-arm64')
})

test('the supported list matches napi.targets and the npm/ packages', () => {
  const keys = Object.keys(SUPPORTED)
  assert.equal(packageJson.napi.targets.length, keys.length)
  assert.deepEqual(fs.readdirSync(path.join(__dirname, '..', 'npm')).sort(), [...keys].sort())
  for (const key of keys) {
    const pkg = require(`../npm/${key}/package.json`)
    const [os, cpu, libc] = key.split('-')
    assert.equal(pkg.name, `handle-ledger-${key}`)
    assert.equal(pkg.main, `handle-ledger.${key}.node`)
    assert.deepEqual(pkg.files, [pkg.main, 'LICENSE'])
    assert.equal(pkg.version, packageJson.version)
    assert.deepEqual([pkg.os, pkg.cpu], [[os], [cpu]])
    if (os === 'linux') assert.deepEqual(pkg.libc, [libc === 'gnu' ? 'glibc' : 'musl'])
  }
})
