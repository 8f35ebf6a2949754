'use strict'
// Packing and installing as a release does, in one place for
// scripts/release/check.js (the release binaries) and
// __test__/packaging.test.js (this machine's build):
//
// stageAndPack: the files `npm pack` of this tree ships, copied into a
//   stage, with the platform packages beside it as in the repository;
//   `napi prepublish -t npm --skip-optional-publish`, restricted to the targets
//   at hand, writes the main package's optionalDependencies there (never into
//   this tree); then the main package and each platform package are packed
//   (each platform package's prepack refuses a `testing` build).
// installApp: a fresh app directory where the tarballs are installed offline,
//   from an empty npm cache, with no Rust toolchain on PATH.
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

// npm-cli.js beside this node: lib/node_modules on Unix, node_modules on Windows.
const NPM_CLI = [path.join('..', 'lib', 'node_modules'), 'node_modules']
  .map(dir => path.join(path.dirname(process.execPath), dir, 'npm', 'bin', 'npm-cli.js'))
  .find(file => fs.existsSync(file))
// No cargo/rustc: only the directories of node and the system's basic tools.
const NO_RUST_PATH = [...new Set([path.dirname(process.execPath), '/usr/bin', '/bin'])].join(path.delimiter)

function defaultRun (file, args, options = {}) {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options })
}

/** npm as installed beside this node (so a PATH without Rust needs nothing else), or the npm on PATH. */
function npm (run, args, options = {}) {
  if (NPM_CLI) return run(process.execPath, [NPM_CLI, ...args], options)
  return run('npm', args, { ...options, env: { ...(options.env || process.env), PATH: process.env.PATH } })
}

/** `linux-x64-gnu` for `x86_64-unknown-linux-gnu`, as napi names platforms. */
function targetKey (triple) {
  const [arch, , system, abi] = triple.split('-')
  const cpu = { x86_64: 'x64', aarch64: 'arm64' }[arch]
  if (system === 'linux') return `linux-${cpu}-${abi}`
  if (system === 'darwin') return `darwin-${cpu}`
  return `win32-${cpu}-${triple.split('-').pop()}`
}

/**
 * Stages and packs the main package and the platform packages `keys`.
 * `binaries` (optional) maps a key to the .node to use instead of the one in
 * npm/<key>/; `ignoreScripts` packs without the prepack check (only the
 * packaging test does, for its own `testing` build, which it never publishes).
 */
function stageAndPack ({ root, out, keys, binaries = {}, ignoreScripts = false, run = defaultRun }) {
  const tarballs = path.join(out, 'tarballs')
  const stage = path.join(out, 'stage')
  for (const dir of [tarballs, stage]) {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.mkdirSync(dir, { recursive: true })
  }
  // What `files` ships, as npm itself lists it (copied, not unpacked: no tar
  // that reads Windows paths is needed).
  const [listed] = JSON.parse(npm(run, ['pack', '--dry-run', '--json'], { cwd: root }))
  for (const { path: file } of listed.files) {
    fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true })
    fs.copyFileSync(path.join(root, file), path.join(stage, file))
  }

  const pkg = require(path.join(root, 'package.json'))
  const triples = keys.map(key => {
    const triple = pkg.napi.targets.find(candidate => targetKey(candidate) === key)
    if (triple === undefined) throw new Error(`${key} is not in package.json's napi.targets`)
    const binaryName = `handle-ledger.${key}.node`
    fs.cpSync(path.join(root, 'npm', key), path.join(stage, 'npm', key), { recursive: true })
    if (binaries[key]) fs.copyFileSync(binaries[key], path.join(stage, 'npm', key, binaryName))
    if (!fs.existsSync(path.join(stage, 'npm', key, binaryName))) throw new Error(`no ${binaryName}: build it first`)
    return triple
  })
  // The platform packages' prepack runs ../../scripts/release/binary-features.js.
  fs.mkdirSync(path.join(stage, 'scripts', 'release'), { recursive: true })
  fs.copyFileSync(path.join(__dirname, 'binary-features.js'), path.join(stage, 'scripts', 'release', 'binary-features.js'))

  // prepublishOnly's command, restricted to the targets at hand (with all
  // seven it refuses to run until every binary is in npm/). It reads the
  // release commit from git.
  const config = path.join(out, 'napi-targets.json')
  fs.writeFileSync(config, JSON.stringify({ binaryName: pkg.napi.binaryName, targets: triples }))
  run('git', ['init', '-q'], { cwd: stage })
  run('git', ['-c', 'user.email=release@localhost', '-c', 'user.name=release', 'commit', '-q', '--allow-empty', '-m', 'release'], { cwd: stage })
  const napiCli = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json', { paths: [root] })), 'dist', 'cli.js')
  run(process.execPath, [napiCli, 'prepublish', '-t', 'npm', '--skip-optional-publish', '-c', config], { cwd: stage })

  const packArgs = ['pack', '--json', '--pack-destination', tarballs, ...(ignoreScripts ? ['--ignore-scripts'] : [])]
  const [main] = JSON.parse(npm(run, packArgs, { cwd: stage }))
  const platforms = {}
  for (const key of keys) {
    const [binary] = JSON.parse(npm(run, packArgs, { cwd: path.join(stage, 'npm', key) }))
    platforms[key] = path.join(tarballs, binary.filename)
  }
  return { main: path.join(tarballs, main.filename), platforms, stage, tarballs }
}

/**
 * A fresh app `out/apps/<name>` with `tarballs` installed offline from an
 * empty cache, no Rust on PATH. With `target` ({ key, cpu, libc }) and
 * `platforms` (key -> tarball), only the main tarball is named: the app's
 * `overrides` point each platform package at its tarball, and npm picks the
 * one for the target by its os/cpu/libc fields (npm's --os/--cpu/--libc), as
 * it picks from the registry on that machine. Returns the app, its env and
 * the packages npm installed.
 */
function installApp ({ out, name, target, tarballs, platforms = {}, run = defaultRun }) {
  const app = path.join(out, 'apps', name || target.key)
  fs.rmSync(app, { recursive: true, force: true })
  fs.mkdirSync(app, { recursive: true })
  const overrides = Object.fromEntries(Object.entries(platforms).map(([key, tarball]) => [`handle-ledger-${key}`, `file:${tarball}`]))
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, overrides }))
  const env = { ...process.env }
  // Windows spells it Path: drop every spelling before setting PATH.
  for (const name of Object.keys(env)) if (/^(path|cargo_home|rustup_home|handle_ledger_native_path)$/i.test(name)) delete env[name]
  Object.assign(env, { PATH: NO_RUST_PATH, npm_config_cache: path.join(app, '.npm-cache') })
  const platform = target ? ['--os', 'linux', '--cpu', target.cpu, '--libc', target.libc] : []
  npm(run, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts=false', ...platform, ...tarballs], { cwd: app, env })
  const installed = fs.readdirSync(path.join(app, 'node_modules')).filter(entry => !entry.startsWith('.')).sort()
  return { app, env, installed }
}

module.exports = { stageAndPack, installApp, targetKey, npm, NO_RUST_PATH }
