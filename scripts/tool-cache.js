'use strict'
// Where the project's scripts keep the tools they fetch for themselves
// (promtool for the tests, the arm64 Node and sysroot for release:check):
// outside the clone, so `npm ci` and a fresh clone keep them, and nothing is
// installed system-wide. $XDG_CACHE_HOME/handle-ledger, else ~/.cache/handle-ledger.
//
//   node scripts/tool-cache.js [PART...]   prints the path (for shell scripts)
const os = require('node:os')
const path = require('node:path')

function toolCache (...parts) {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(base, 'handle-ledger', ...parts)
}

if (require.main === module) console.log(toolCache(...process.argv.slice(2)))

module.exports = { toolCache }
