'use strict'
// One style for the JavaScript: neostandard (standard's flat-config
// successor), over everything the package, its tests, benches and scripts hold.
const neostandard = require('neostandard')

module.exports = [
  ...neostandard({ ts: true, ignores: ['target/**', 'npm/**', 'node_modules/**', '**/*.d.ts'] }),
  {
    rules: {
      // Names, reports and CLI input are cleaned of control characters on purpose.
      'no-control-regex': 'off'
    }
  },
  {
    // Each contender's loop is compiled from source so its call sites see one
    // map class (bench/cycle.js); the fuzzer's reproductions run the same
    // text as its helpers (support/fuzz.js, support/stack-edge.js).
    files: ['bench/**', '__test__/support/fuzz.js', '__test__/support/stack-edge.js'],
    rules: { 'no-new-func': 'off' }
  },
  {
    // Type tests assign values only to have them checked by tsc.
    files: ['__test__/ts/**', '__test__/types/**'],
    rules: { '@typescript-eslint/no-unused-vars': 'off', 'no-unused-vars': 'off' }
  },
  {
    // Loops that wait for a flag a timer or a listener sets.
    files: ['__test__/**', 'bench/**'],
    rules: { 'no-unmodified-loop-condition': 'off' }
  }
]
