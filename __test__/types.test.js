'use strict'
// index.d.ts under `tsc --strict` with the oldest TypeScript we support (4.9),
// 5.9 and the current release (7), resolved through the package's exports map as a
// user's code resolves it (ESM import and CommonJS require).
const test = require('node:test')
const assert = require('node:assert')
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')
const fixtures = ['usage.mts', 'usage.cts'].map(file => path.join(__dirname, 'types', file))
// typescript (5.9) is also the compiler of hold-types.test.js; 4.9 predates
// MapIterator, 7 is the current release.
const compilers = { 'TypeScript 4.9': 'typescript49', 'TypeScript 5.9': 'typescript', 'TypeScript 7': 'typescript7' }

function tsc(pkg, args) {
  const bin = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'tsc')
  try {
    return { status: 0, output: execFileSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' }) }
  } catch (error) {
    return { status: error.status, output: `${error.stdout}${error.stderr}` }
  }
}

const strict = ['--strict', '--noEmit', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--types', 'node']

for (const [label, pkg] of Object.entries(compilers)) {
  // The fixtures' @ts-expect-error lines make tsc fail if a type check stops
  // biting (an unused @ts-expect-error is itself an error).
  test(`${label}: index.d.ts and the usage fixtures pass tsc --strict`, () => {
    const { status, output } = tsc(pkg, [...strict, ...fixtures])
    assert.strictEqual(status, 0, output)
  })
}
