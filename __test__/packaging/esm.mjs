// The ESM entry of the installed package: the same module instance as
// require(), every CommonJS export importable by name, lib/ closed, the
// report schema exported.
import { createRequire } from 'node:module'
import * as esm from 'handle-ledger'
import ledger, { HandleMap } from 'handle-ledger'

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
  sameDefault: ledger === cjs,
  size: map.size,
  deepImport,
  schemaTitle: require('handle-ledger/report.schema.json').title,
}))
