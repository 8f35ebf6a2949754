'use strict'
// The loader's choices and its error, with the platform and the loading
// simulated (packaging.test.js checks the real missing-package case).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { loadNative, detectPlatform, SUPPORTED } = require('../lib/native-loader.js')
const packageJson = require('../package.json')

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
  const binding = loadNative({ platform: { key: 'linux-x64-gnu', description: '' }, load: id => { tried.push(id); return { ok: true } }, env: { HANDLE_LEDGER_NATIVE_PATH: 'built/x.node' } })
  assert.deepEqual(binding, { ok: true })
  assert.deepEqual(tried, [path.resolve('built/x.node')])
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
