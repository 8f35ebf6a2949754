'use strict'
// Operation codes of the op log: the first word of an operation is
// `slot << 3 | code`. Defined once, in src/oplog.rs, and read from the
// binding here. The map keeps the shift a literal in its hot path (a constant
// the JIT folds), so a binding with another shift is refused at load.

const native = require('../../binding.js')

const { codeBits: CODE_BITS, insert: INSERT, remove: REMOVE, removeAt: REMOVE_AT, overwrite: OVERWRITE, touch: TOUCH, clear: CLEAR, time: TIME, timeCoarse: TIME_COARSE, heldSite: HELD_SITE } = native.opCodes()
if (CODE_BITS !== 3) throw new Error(`handle-ledger: the binding's op log shifts slots by ${CODE_BITS} bits, this facade by 3 (mismatched builds)`)

module.exports = { INSERT, REMOVE, REMOVE_AT, OVERWRITE, TOUCH, CLEAR, TIME, TIME_COARSE, HELD_SITE }
