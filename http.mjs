// ESM entry of handle-ledger/http: the same module instance as require('handle-ledger/http').
export * from './http.js'
