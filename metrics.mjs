// ESM entry of handle-ledger/metrics: the same module instance as require('handle-ledger/metrics').
export * from './metrics.js'
