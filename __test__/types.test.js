'use strict'
// index.d.ts under `tsc --strict` with the oldest TypeScript we support (4.9),
// 5.9 and the current release (7), resolved through the package's exports map as a
// user's code resolves it (ESM import and CommonJS require). Real saved
// reports of every kind (support/reports.js, the same ones report-schema.test.js
// checks against the schema) are compiled as literals of their published
// types: a field the types lack, or one they require that a report lacks, fails.
const test = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { realReports } = require('./support/reports.js')

const root = path.join(__dirname, '..')
const fixtures = ['usage.mts', 'usage.cts'].map(file => path.join(__dirname, 'types', file))
// typescript (5.9) is also the compiler of hold-types.test.js; 4.9 predates
// MapIterator, 7 is the current release.
const compilers = { 'TypeScript 4.9': 'typescript49', 'TypeScript 5.9': 'typescript', 'TypeScript 7': 'typescript7' }

function tsc (pkg, args) {
  const bin = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'tsc')
  try {
    return { status: 0, output: execFileSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' }) }
  } catch (error) {
    return { status: error.status, output: `${error.stdout}${error.stderr}` }
  }
}

const strict = ['--strict', '--noEmit', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--types', 'node']

// Written next to the fixtures (so 'handle-ledger' resolves to this package)
// before the compilers run, removed after.
const generated = path.join(__dirname, 'types', 'real-reports.generated.mts')
test.before(async () => {
  const { reports, close } = await realReports()
  try {
    const lines = ["import type { RegistryReport, Snapshot, Diff, MapReport } from 'handle-ledger'"]
    reports.forEach(({ label, type, value }, i) => {
      lines.push(`// ${label}`, `export const report${i}: ${type} = ${JSON.stringify(value, null, 1)}`)
    })
    fs.writeFileSync(generated, lines.join('\n') + '\n')
  } finally {
    await close()
  }
  fixtures.push(generated)
})
test.after(() => fs.rmSync(generated, { force: true }))

for (const [label, pkg] of Object.entries(compilers)) {
  // The fixtures' @ts-expect-error lines make tsc fail if a type check stops
  // biting (an unused @ts-expect-error is itself an error).
  test(`${label}: index.d.ts, the usage fixtures and real reports pass tsc --strict`, () => {
    const { status, output } = tsc(pkg, [...strict, ...fixtures])
    assert.strictEqual(status, 0, output)
  })
}
