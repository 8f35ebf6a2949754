'use strict'
// The warnings a map emits (process.emitWarning): a callback's or a tick's
// failure must never escape the timer that ran it, so it is reported instead.

const { describeValue } = require('../shared/options.js')

/** Emits a HandleLedgerWarning about map `name`. */
function warn (name, message, code, detail, cause) {
  const warning = new Error(`HandleMap ${JSON.stringify(name)}: ${message}`)
  warning.name = 'HandleLedgerWarning'
  warning.code = code
  warning.detail = detail
  warning.cause = cause
  process.emitWarning(warning)
}

// What a user callback threw, as text, whatever it is: a revoked Proxy, an
// object whose `message` getter throws, a symbol. Never throws itself.
function describeThrown (error) {
  try {
    if ((typeof error === 'object' && error !== null) || typeof error === 'function') {
      const message = error.message
      if (typeof message !== 'string') return `${describeValue(error)} without a message`
      return message.length > 500 ? `${message.slice(0, 500)}...` : message
    }
    return typeof error === 'symbol' ? 'a symbol' : String(error)
  } catch {
    return 'a thrown value that cannot be described'
  }
}

module.exports = { warn, describeThrown }
