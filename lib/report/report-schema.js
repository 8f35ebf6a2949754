'use strict'
// The report contract in one place: report.schema.json (shipped as
// handle-ledger/report.schema.json) describes every saved report, snapshot
// and diff. The CLI checks its input files with it; snapshots and diffs take
// their field lists from it, so a field added to the schema is one edit.

const { validator } = require('../shared/json-schema.js')
const SCHEMA = require('../../report.schema.json')

/**
 * reportProblem(value, def): the first problem of `value` as a saved document
 * (or as `$defs[def]`, e.g. 'mapReport'): `{ path, message, Kind }`, or null
 * when it conforms.
 */
const reportProblem = validator(SCHEMA)

/** The field names of `$defs[def]`, in the schema's order. */
function fieldsOf (def) {
  return Object.keys(SCHEMA.$defs[def].properties)
}

// The figures a diff compares: every `<figure>Delta` of a site's diff.
const DIFF_FIGURES = fieldsOf('siteDiff').filter(field => field.endsWith('Delta')).map(field => field.slice(0, -'Delta'.length))

module.exports = { reportProblem, fieldsOf, DIFF_FIGURES }
