'use strict'
// Loads the native ledger built for this platform (hand-written; `napi build`
// runs with --no-js so it never overwrites this file).
//
// Where the binary comes from, in order:
//   1. HANDLE_LEDGER_NATIVE_PATH, the path of a .node file (a build from source);
//      when set, it is the only place tried;
//   2. handle-ledger.<platform>.node next to this file (what `npm run build`
//      writes in a clone);
//   3. the platform package npm installed as an optional dependency
//      (handle-ledger-<platform>).
// Only this package's binding of this package's version counts as loaded.
// When none loads, the error names the platform and libc detected, lists the
// supported platforms and says how to build from source, instead of napi's
// generic "Cannot find native binding".
module.exports = require('./lib/native-loader.js').loadNative()
