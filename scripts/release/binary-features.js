#!/usr/bin/env node
'use strict'
// The Cargo features a handle-ledger binary was built with, read from the
// file itself, so it works for any platform's binary without loading it
// (src/binding.rs keeps them between NULs: "\0handle-ledger build features=testing\0").
//
//   node scripts/release/binary-features.js FILE...            prints FILE: features
//   node scripts/release/binary-features.js --release FILE...  also fails unless none
//
// Each npm/<platform>/package.json runs the second form as its prepack, so a
// `testing` build (`npm run build:test`, what `npm test` leaves at the root)
// cannot be packed or published.
const fs = require('node:fs')

const MARKER = Buffer.from('\0handle-ledger build features=')

/** The features in `file`'s marker: [] for a release build, ['testing'] for `npm run build:test`. */
function binaryFeatures (file) {
  const bytes = fs.readFileSync(file)
  const start = bytes.indexOf(MARKER)
  if (start === -1) throw new Error(`${file}: no build-features marker (not a handle-ledger binary, or one older than buildInfo())`)
  if (bytes.indexOf(MARKER, start + 1) !== -1) throw new Error(`${file}: two build-features markers`)
  const end = bytes.indexOf(0, start + MARKER.length)
  const list = bytes.subarray(start + MARKER.length, end).toString('latin1')
  return list === '' ? [] : list.split(',')
}

function main (args) {
  const release = args[0] === '--release'
  const files = release ? args.slice(1) : args
  if (files.length === 0) throw new Error('usage: binary-features.js [--release] FILE...')
  for (const file of files) {
    const features = binaryFeatures(file)
    if (release && features.length > 0) {
      throw new Error(`${file} was built with the Cargo feature(s) ${features.join(', ')} (npm run build:test): ` +
        'it must not be packed or published. Build the release binary: npm run build (or npm run build:release)')
    }
    // As a check (a prepack) on stderr: `npm pack --json` keeps stdout for its JSON.
    const report = release ? console.error : console.log
    report(`${file}: features ${features.length ? features.join(', ') : '(none)'}`)
  }
}

if (require.main === module) {
  try {
    main(process.argv.slice(2))
  } catch (error) {
    console.error(`binary-features: ${error.message}`)
    process.exitCode = 1
  }
}

module.exports = { binaryFeatures }
