import { HandleMap, registry, formatReport, leakCheck, type MapReport } from 'handle-ledger'
import { debugHandles } from 'handle-ledger/http'

const typed: Map<string, { id: number }> = new HandleMap<string, { id: number }>({ name: 'types', ttl: 1000 })
typed.set('a', { id: 1 })
for (const key of typed.keys()) key.toUpperCase()
for (const [key, value] of new HandleMap<string, number>()) { key.length; value.toFixed() }
const first: IteratorResult<number> = new HandleMap<string, number>().values().next()
const spread: Array<[string, number]> = [...new HandleMap<string, number>().entries()]
const report: MapReport = new HandleMap().report()
formatReport(registry.report())
void leakCheck(() => undefined, { iterations: 1 })
void debugHandles
void first; void spread; void report
// @ts-expect-error a HandleMap's values are typed
typed.set('b', 'not an object')
