'use strict'
// Finds and loads the native ledger for this platform; binding.js calls it.
// See binding.js for the order in which places are tried.
const fs = require('node:fs')
const path = require('node:path')

const PACKAGE = 'handle-ledger'
const { version: PACKAGE_VERSION } = require('../package.json')
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

function detectLinuxLibc () {
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

function withoutNetwork (fn) {
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
function detectPlatform (platform = process.platform, arch = process.arch, linuxLibc = detectLinuxLibc) {
  if (platform === 'linux') {
    const { libc, version } = linuxLibc()
    return { key: `linux-${arch}-${libc}`, description: `${platform} ${arch}, ${libc === 'gnu' ? `glibc ${version || '(version unknown)'}` : 'musl libc'}` }
  }
  if (platform === 'win32') return { key: `win32-${arch}-msvc`, description: `${platform} ${arch}` }
  return { key: `${platform}-${arch}`, description: `${platform} ${arch}` }
}

// What the facade calls on the binding; something that loads without them is
// another addon (or a JSON file), not this package's binary.
const ENTRY_POINTS = ['NativeLedger', 'opCodes', 'internStack', 'describeSite', 'registryReport', 'registryTotals']

/** The places a binary for `key` may be, in the order they are tried (HANDLE_LEDGER_NATIVE_PATH is tried alone). */
function candidates (key) {
  return [
    { what: `./${PACKAGE}.${key}.node`, id: path.join(ROOT, `${PACKAGE}.${key}.node`), localBuild: true },
    { what: `${PACKAGE}-${key}`, id: `${PACKAGE}-${key}` },
  ]
}

function loadNative ({ platform, load = require, env = process.env, version = PACKAGE_VERSION } = {}) {
  // Set, it is the only candidate: a binary checked this way must not
  // quietly "pass" on the installed one because the path was wrong.
  if (env.HANDLE_LEDGER_NATIVE_PATH) return loadNamedBinary(env.HANDLE_LEDGER_NATIVE_PATH, load, version)
  const detected = platform || detectPlatform()
  const failures = []
  for (const candidate of candidates(detected.key)) {
    if (candidate.localBuild && !fs.existsSync(candidate.id)) {
      failures.push({ what: candidate.what, reason: 'no such file (`npm run build` writes it in a clone)' })
      continue
    }
    const loaded = tryLoad(candidate, load, version)
    if (loaded.binding !== undefined) return loaded.binding
    failures.push({ what: candidate.what, reason: loaded.reason })
  }
  throw noBinaryError(detected, failures)
}

/** `{ binding }` when `candidate` loads and is this package's binding of `version`, else `{ reason }`. */
function tryLoad (candidate, load, version) {
  let binding
  try {
    binding = load(candidate.id)
  } catch (error) {
    return { reason: reason(error, candidate) }
  }
  const problem = bindingProblem(binding, version)
  return problem === null ? { binding } : { reason: problem }
}

function loadNamedBinary (named, load, version) {
  const candidate = { what: `HANDLE_LEDGER_NATIVE_PATH=${named}`, id: path.resolve(named) }
  const loaded = tryLoad(candidate, load, version)
  if (loaded.binding !== undefined) return loaded.binding
  const error = new Error(`${PACKAGE}: HANDLE_LEDGER_NATIVE_PATH names ${candidate.id}, which does not load: ${loaded.reason}. ` +
    `Point it at the ${PACKAGE}.<platform>.node that \`npm run build\` writes, or unset it to load the installed binary.`)
  error.code = 'HANDLE_LEDGER_BAD_NATIVE_PATH'
  error.path = candidate.id
  throw error
}

/** Why `binding` is not this package's binding of `version`, or null when it is. */
function bindingProblem (binding, version) {
  if (binding === null || (typeof binding !== 'object' && typeof binding !== 'function')) {
    return `it is not a ${PACKAGE} binding (it exports ${binding === null ? 'null' : typeof binding})`
  }
  let missing
  let reported
  try {
    missing = ENTRY_POINTS.filter(name => typeof binding[name] !== 'function')
    if (missing.length === 0) reported = typeof binding.bindingVersion === 'function' ? binding.bindingVersion() : undefined
  } catch (error) {
    return `it is not a ${PACKAGE} binding (reading its exports threw: ${String((error && error.message) || error).split('\n')[0]})`
  }
  if (missing.length > 0) return `it is not a ${PACKAGE} binding (it has no ${missing.join(', ')})`
  if (reported === undefined) return `it is a ${PACKAGE} binding older than this package ${version} (it reports no version): rebuild it`
  if (reported !== version) return `it is a ${PACKAGE} ${String(reported)} binding, and this package is ${version}: rebuild it (\`npm run build\`) or reinstall`
  return null
}

function noBinaryError (detected, failures) {
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

function reason (error, candidate) {
  if (error && error.code === 'MODULE_NOT_FOUND' && !candidate.id.endsWith('.node')) return 'not installed'
  if (error && error.code === 'MODULE_NOT_FOUND') return 'no such file'
  // e.g. "version `GLIBC_2.34' not found": the binary is there but cannot run here.
  return String((error && error.message) || error).split('\n')[0]
}

module.exports = { loadNative, detectPlatform, SUPPORTED }
