// The CommonJS view of the same types: require() through the exports map.
import ledger = require('handle-ledger')

const map: Map<number, string> = new ledger.HandleMap<number, string>([[1, 'a']], { name: 'types-cjs' })
const keys: number[] = Array.from(map.keys())
const report: ledger.RegistryReport = ledger.registry.report()
// @ts-expect-error the constructor's options are checked
new ledger.HandleMap({ ttl: 'soon' })
void keys; void report
