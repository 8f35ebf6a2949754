// The ESM entries of the installed package (the root, /http, /metrics): the
// same module instances as require(), every CommonJS export importable by
// name, lib/ closed, the report schema exported.
import { createRequire } from 'node:module'
import * as esm from 'handle-ledger'
import ledger, { HandleMap } from 'handle-ledger'
import * as esmHttp from 'handle-ledger/http'
import * as esmMetrics from 'handle-ledger/metrics'

const require = createRequire(import.meta.url)
const cjs = require('handle-ledger')
let deepImport = 'allowed'
try {
  require('handle-ledger/lib/map/handle-map.js')
} catch (error) {
  deepImport = error.code
}
const map = new HandleMap({ name: 'installed.esm' })
map.set('k', 1)
process.stdout.write(JSON.stringify({
  missingNames: Object.keys(cjs).filter(name => esm[name] !== cjs[name]),
  exported: {
    root: Object.keys(cjs).sort(),
    http: Object.keys(require('handle-ledger/http')).filter(name => esmHttp[name] === require('handle-ledger/http')[name]).sort(),
    metrics: Object.keys(require('handle-ledger/metrics')).filter(name => esmMetrics[name] === require('handle-ledger/metrics')[name]).sort()
  },
  sameDefault: ledger === cjs,
  size: map.size,
  deepImport,
  schemaTitle: require('handle-ledger/report.schema.json').title,
}))
