'use strict'
// Finds and loads the native ledger for this platform; binding.js calls it.
// See binding.js for the order in which places are tried.
const fs = require('node:fs')
const path = require('node:path')

const PACKAGE = 'handle-ledger'
// A clone's `npm run build` writes its binary at the package root.
const ROOT = path.join(__dirname, '..')
const REPOSITORY = 'https://github.com/handle-ledger/handle-ledger'

// Platform key (as napi names it) -> what it runs on. Keep in step with
// package.json's napi.targets and optionalDependencies.
const SUPPORTED = {
  'linux-x64-gnu': 'Linux x64, glibc >= 2.17',
  'linux-arm64-gnu': 'Linux arm64, glibc >= 2.17',
  'linux-x64-musl': 'Linux x64, musl libc, e.g. Alpine',
  'linux-arm64-musl': 'Linux arm64, musl libc, e.g. Alpine',
  'darwin-x64': 'macOS x64',
  'darwin-arm64': 'macOS arm64 (Apple silicon)',
  'win32-x64-msvc': 'Windows x64',
}

function detectLinuxLibc() {
  // The process report's header has glibcVersionRuntime only when the
  // process runs on glibc; it is the one check that needs no subprocess.
  try {
    const report = withoutNetwork(() => process.report.getReport())
    if (report && report.header) {
      if (report.header.glibcVersionRuntime) return { libc: 'gnu', version: report.header.glibcVersionRuntime }
      if ((report.sharedObjects || []).some(file => /libc\.musl-|ld-musl-/.test(file))) return { libc: 'musl', version: null }
    }
  } catch {}
  try {
    if (fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')) return { libc: 'musl', version: null }
  } catch {}
  return { libc: 'gnu', version: null }
}

function withoutNetwork(fn) {
  // getReport() otherwise resolves host names for open sockets, which can block.
  const before = process.report.excludeNetwork
  process.report.excludeNetwork = true
  try {
    return fn()
  } finally {
    process.report.excludeNetwork = before
  }
}

/** What this process runs on, as napi names platforms: `linux-x64-gnu`, `darwin-arm64`, ... */
function detectPlatform(platform = process.platform, arch = process.arch, linuxLibc = detectLinuxLibc) {
  if (platform === 'linux') {
    const { libc, version } = linuxLibc()
    return { key: `linux-${arch}-${libc}`, description: `${platform} ${arch}, ${libc === 'gnu' ? `glibc ${version || '(version unknown)'}` : 'musl libc'}` }
  }
  if (platform === 'win32') return { key: `win32-${arch}-msvc`, description: `${platform} ${arch}` }
  return { key: `${platform}-${arch}`, description: `${platform} ${arch}` }
}

/** The places a binary for `key` may be, in the order they are tried. */
function candidates(key, env = process.env) {
  const list = []
  if (env.HANDLE_LEDGER_NATIVE_PATH) list.push({ what: `HANDLE_LEDGER_NATIVE_PATH=${env.HANDLE_LEDGER_NATIVE_PATH}`, id: path.resolve(env.HANDLE_LEDGER_NATIVE_PATH) })
  list.push({ what: `./${PACKAGE}.${key}.node`, id: path.join(ROOT, `${PACKAGE}.${key}.node`), localBuild: true })
  list.push({ what: `${PACKAGE}-${key}`, id: `${PACKAGE}-${key}` })
  return list
}

function loadNative({ platform, load = require, env = process.env } = {}) {
  const detected = platform || detectPlatform()
  const failures = []
  for (const candidate of candidates(detected.key, env)) {
    if (candidate.localBuild && !fs.existsSync(candidate.id)) {
      failures.push({ what: candidate.what, reason: 'no such file (`npm run build` writes it in a clone)' })
      continue
    }
    try {
      return load(candidate.id)
    } catch (error) {
      failures.push({ what: candidate.what, reason: reason(error, candidate) })
    }
  }
  throw noBinaryError(detected, failures)
}

function noBinaryError(detected, failures) {
  const supported = Object.prototype.hasOwnProperty.call(SUPPORTED, detected.key)
  const lines = [
    `${PACKAGE}: no native binary loads on this platform: ${detected.key} (${detected.description}).`,
    supported
      ? `This platform is supported: its binary comes in the optional dependency ${PACKAGE}-${detected.key}, which is missing or failed to load. Reinstall without --omit=optional/--no-optional; a package-lock.json written on another platform may have left it out (delete it and node_modules, then npm install).`
      : 'This platform has no prebuilt binary.',
    `Supported: ${Object.entries(SUPPORTED).map(([key, what]) => `${key} (${what})`).join(', ')}.`,
    `Build from source (needs Rust, https://rustup.rs): git clone ${REPOSITORY} && cd handle-ledger && npm ci && npm run build, then set HANDLE_LEDGER_NATIVE_PATH to the handle-ledger.${detected.key}.node it writes (or copy that file into node_modules/${PACKAGE}/).`,
  ]
  if (failures.length) {
    lines.push('Tried:')
    for (const { what, reason } of failures) lines.push(`  ${what}: ${reason}`)
  }
  const error = new Error(lines.join('\n'))
  error.code = 'HANDLE_LEDGER_NO_BINARY'
  error.platform = detected.key
  error.supported = Object.keys(SUPPORTED)
  return error
}

function reason(error, candidate) {
  if (error && error.code === 'MODULE_NOT_FOUND' && !candidate.id.endsWith('.node')) return 'not installed'
  if (error && error.code === 'MODULE_NOT_FOUND') return 'no such file'
  // e.g. "version `GLIBC_2.34' not found": the binary is there but cannot run here.
  return String((error && error.message) || error).split('\n')[0]
}

module.exports = { loadNative, detectPlatform, SUPPORTED }
