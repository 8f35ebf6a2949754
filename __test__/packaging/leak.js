'use strict'
// Runs in a fresh directory where handle-ledger was installed from tarballs:
// a map with one line that inserts and nothing that removes. Prints the report.
const { HandleMap } = require('handle-ledger')

const calls = new HandleMap({ name: 'installed.calls' })
function startCall (id) {
  calls.set(id, { id }) // @leaky-insert
}
for (let id = 0; id < 5; id++) startCall(id)
// judged at any age (outlierFloorMs 0): these entries are milliseconds old
process.stdout.write(JSON.stringify(calls.report({ outlierFloorMs: 0 })))
