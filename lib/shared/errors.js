'use strict'
// The package's own error classes, in a leaf module: the map throws
// HandleLeakError from assertEmpty() and the report layer from leakCheck(),
// and neither may reach the other's layer for it.

/** A map or a leak check found entries that should have been removed; `.report` says which. */
class HandleLeakError extends Error {
  constructor (message, report) {
    super(message)
    this.name = 'HandleLeakError'
    this.report = report
  }
}

module.exports = { HandleLeakError }
