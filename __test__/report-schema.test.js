'use strict'
// The report contract, report.schema.json (shipped as
// handle-ledger/report.schema.json): real saved reports of every kind conform
// to it (the types in index.d.ts are checked on the same reports by
// types.test.js), the package's own validator (lib/shared/json-schema.js)
// agrees with ajv on every field of real reports made wrong in every way, and
// the validator refuses a schema using keywords outside its subset.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const Ajv2020 = require('ajv/dist/2020').default
const { validator } = require('../lib/shared/json-schema.js')
const { reportProblem } = require('../lib/report/report-schema.js')
const manifest = require('../package.json')
const { realReports } = require('./support/reports.js')

const SCHEMA_FILE = path.join(__dirname, '..', 'report.schema.json')
const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8'))
const ajv = new Ajv2020({ allErrors: false, strict: true })
const ajvDocument = ajv.compile(schema)
const ajvMapReport = ajv.getSchema(`${schema.$id}#/$defs/mapReport`)

let reports
let closeReports
before(async () => {
  ({ reports, close: closeReports } = await realReports())
})
after(async () => { if (closeReports) await closeReports() })

function ajvValid (value, def) {
  return def === 'mapReport' ? ajvMapReport(value) : ajvDocument(value)
}

test('the package ships the schema: files, exports, and require("handle-ledger/report.schema.json")', () => {
  assert.ok(manifest.files.includes('report.schema.json'))
  assert.equal(manifest.exports['./report.schema.json'], './report.schema.json')
  assert.deepEqual(require('handle-ledger/report.schema.json'), schema) // the package's own exports map
})

test('real reports of every kind conform to the schema (the package\'s validator and ajv)', () => {
  for (const { label, def, value } of reports) {
    assert.equal(reportProblem(value, def), null, label)
    assert.ok(ajvValid(value, def), `${label}: ${ajv.errorsText(def === 'mapReport' ? ajvMapReport.errors : ajvDocument.errors)}`)
  }
})

test('the real reports cover every rule, held and sampled sites, other callers, a worker\'s map and the route\'s bounds', () => {
  const documents = reports.map(entry => entry.value)
  const maps = documents.flatMap(document => document.maps || [document])
  const sites = maps.flatMap(map => map.sites)
  const verdicts = sites.flatMap(site => [site, ...(site.callers || [])]).map(row => row.verdict).filter(Boolean)
  const judged = (rule, scope) => verdicts.some(verdict => verdict.rule === rule && verdict.scope === scope)
  assert.ok(judged('never-removed', 'site'), 'never removed')
  assert.ok(verdicts.some(verdict => verdict.rule === 'outliers'), 'outliers')
  assert.ok(verdicts.some(verdict => verdict.rule === 'expiry-share'), 'expiry share')
  assert.ok(judged('never-removed', 'caller'), 'a caller that never removes')
  assert.ok(sites.some(site => site.growth === true), 'growth in a diff')
  assert.ok(maps.some(map => map.closed === true), 'a closed map in a diff')
  assert.ok(sites.some(site => site.held === true), 'held')
  assert.ok(maps.some(map => map.estimated === true && map.callSites === 'sampled'), 'sampled estimates')
  assert.ok(maps.some(map => map.name === 'contract-instrumented' && map.live === 2), 'an instrumented Map')
  assert.ok(maps.some(map => map.threadId > 0 && map.name === 'contract-worker'), 'a worker\'s map')
  assert.ok(sites.some(site => site.otherCallers && site.otherCallers.callers > 0), 'other callers')
  assert.ok(sites.some(site => site.lifetime && site.removedAt.length > 0), 'lifetimes and remove sites')
  assert.ok(maps.some(map => (map.oldestEntries || []).some(entry => typeof entry.key === 'string')), 'oldest entries with keys')
  assert.ok(documents.some(document => document.truncated === true), 'the route\'s bounded JSON')
  assert.deepEqual(new Set(documents.map(document => document.kind)), new Set(['report', 'snapshot', 'diff', undefined]))
})

// Every field of a document, as [parent, key] pairs (objects and arrays).
function fields (value, found = []) {
  if (value === null || typeof value !== 'object') return found
  for (const key of Object.keys(value)) {
    found.push([value, Array.isArray(value) ? Number(key) : key])
    fields(value[key], found)
  }
  return found
}

const WRONG_VALUES = ['\u001b[2J', '<script>alert(1)</script>', '', 'x'.repeat(201), -1, 1.5, 1e20, -1e20, 0, 2 ** 53, null, true, {}, [], { __proto__: null, x: 1 }]

/** Each document with one field changed or removed, in turn, and with a "__proto__" field: `[what, document]`. */
function * wrongDocuments (document) {
  const count = fields(document).length
  for (let i = 0; i < count; i++) {
    for (const value of WRONG_VALUES) {
      const copy = structuredClone(document)
      const [parent, key] = fields(copy)[i]
      parent[key] = value
      yield [`field ${i} (${JSON.stringify(key)}) = ${JSON.stringify(value)}`, copy]
    }
    const copy = structuredClone(document)
    const [parent, key] = fields(copy)[i]
    if (Array.isArray(parent)) parent.splice(key, 1)
    else delete parent[key]
    yield [`field ${i} (${JSON.stringify(key)}) removed`, copy]
  }
  yield ['a "__proto__" field', JSON.parse(JSON.stringify(document).replace(/^\{/, '{"__proto__":{"maps":[]},'))]
}

test('the package\'s validator agrees with ajv on every field of real reports made wrong in every way', () => {
  let checked = 0
  let refused = 0
  const small = reports.filter(entry => entry.value.maps === undefined || entry.value.maps.length <= 2)
  assert.ok(small.length >= 2, 'a map report and a diff')
  for (const { label, def, value } of small) {
    for (const [what, document] of wrongDocuments(value)) {
      const ours = reportProblem(document, def)
      const theirs = ajvValid(document, def)
      assert.equal(ours === null, theirs, `${label}, ${what}: ours ${ours && ours.message}, ajv ${ajv.errorsText(def === 'mapReport' ? ajvMapReport.errors : ajvDocument.errors)}`)
      if (ours !== null) {
        refused++
        assert.ok(ours.Kind === TypeError || ours.Kind === RangeError)
        assert.doesNotMatch(ours.message, /[\u0000-\u001f\u007f-\u009f]/, 'no control character in a message')
      }
      checked++
    }
  }
  assert.ok(refused > checked / 2, `${refused} of ${checked} refused`)
})

test('objects get no unknown fields, at any depth', () => {
  for (const { label, def, value } of reports) {
    for (const [parent, key] of fields(value)) {
      const target = parent[key]
      if (target === null || typeof target !== 'object' || Array.isArray(target)) continue
      target.unknownField = 1
      const problem = reportProblem(value, def)
      delete target.unknownField
      assert.ok(problem !== null && /has an unknown field "unknownField"$/.test(problem.message), `${label}: ${JSON.stringify(key)}: ${problem && problem.message}`)
    }
  }
})

test('a message names the field and what it must be', () => {
  const diff = reports.find(entry => entry.value.kind === 'diff').value
  const cases = [
    [doc => { doc.maps[0].sites[0].liveDelta = 'many' }, TypeError, 'maps[0].sites[0].liveDelta must be an integer, got a string'],
    [doc => { doc.maps[0].name = 'a\u001bb' }, RangeError, 'maps[0].name has characters outside'],
    [doc => { doc.to = 1e20 }, RangeError, 'to must be <= 8640000000000000, got 100000000000000000000'],
    [doc => { doc.maps[0].sites[0].reason = 5 }, TypeError, 'maps[0].sites[0].reason must be a string or null, got 5'],
    [doc => { delete doc.durationMs }, TypeError, "the document has no 'durationMs'"],
    [doc => { doc.maps[0]['\u001b[2J'] = 1 }, TypeError, 'maps[0] has an unknown field "\\u001b[2J"']
  ]
  for (const [change, Kind, message] of cases) {
    const copy = structuredClone(diff)
    change(copy)
    const problem = reportProblem(copy)
    assert.ok(problem, message)
    assert.equal(problem.Kind, Kind, message)
    assert.ok(problem.message.startsWith(message), `${problem.message} starts with ${message}`)
  }
})

test('the validator refuses a schema outside its subset, a bad $ref and a bad pattern', () => {
  assert.throws(() => validator({ type: 'object', propertyNames: { maxLength: 3 } }), { name: 'TypeError', message: /keyword 'propertyNames' is outside/ })
  assert.throws(() => validator({ properties: { a: { oneOf: [] } } }), { name: 'TypeError', message: /#\.properties\.a: the keyword 'oneOf'/ })
  assert.throws(() => validator({ $ref: '#/definitions/x' }), { name: 'TypeError', message: /not a local #\/\$defs\/ reference/ })
  assert.throws(() => validator({ type: 'string', pattern: '(' }), SyntaxError)
})
