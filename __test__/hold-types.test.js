'use strict'
// `using entry = map.acquire(id, ctx)` as TypeScript users write it: tsc
// type-checks __test__/ts/held-entries.ts against index.d.ts (its
// @ts-expect-error lines fail the compile if the types accept them), down-levels
// `using` to ES2022, and the compiled file runs against the real addon,
// importing 'handle-ledger' by its package name.
const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const TS_PROJECT = path.join(__dirname, 'ts')
const TSC = require.resolve('typescript/bin/tsc')

test('acquire with `using` and hold, compiled by tsc, type-check and run', { timeout: 120_000 }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handle-ledger-ts-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const out = path.join(dir, 'out')
  // The compiled file finds 'handle-ledger' as an installed package would.
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'handle-ledger'), 'dir')

  execFileSync(process.execPath, [TSC, '-p', TS_PROJECT, '--outDir', out], { encoding: 'utf8' })
  const compiled = fs.readFileSync(path.join(out, 'held-entries.js'), 'utf8')
  assert.match(compiled, /__addDisposableResource/, '`using` was down-levelled by tsc')
  assert.doesNotMatch(compiled, /^\s*(await )?using /m)

  const stdout = execFileSync(process.execPath, [path.join(out, 'held-entries.js')], { encoding: 'utf8' })
  assert.equal(stdout.trim(), 'held entries: ok')
})
