// ESM entry: `import { HandleMap } from 'handle-ledger'`. The same module
// instance as require('handle-ledger') (one registry per process); its named
// exports are index.js's, found by Node's CommonJS export detection.
export * from './index.js'
export { default } from './index.js'
