'use strict'
// Every public entry point that takes options checks them with the one shared
// validator (lib/shared/options.js): the same TypeError, naming the entry
// point, for a value that is not an object and for a name it does not know.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const promClient = require('prom-client')
const { metrics } = require('@opentelemetry/api')
const { HandleMap, registry, leakCheck } = require('..')
const { debugHandles, handleLedgerExpress, handleLedgerKoa } = require('../http.js')
const { registerMetrics, registerOpenTelemetry } = require('../metrics.js')

const ENTRY_POINTS = [
  ['HandleMap', options => new HandleMap(options)],
  ['report', options => registry.report(options)],
  ['leakCheck', options => leakCheck(() => {}, options)],
  ['debugHandles', options => debugHandles(options)],
  ['handleLedgerExpress', options => handleLedgerExpress(options)],
  ['handleLedgerKoa', options => handleLedgerKoa(options)],
  ['registerMetrics', options => registerMetrics(promClient, options)],
  ['registerOpenTelemetry', options => registerOpenTelemetry(metrics.getMeter('option-names'), options)]
]

async function thrown (fn) {
  try {
    await fn()
  } catch (error) {
    return error
  }
  assert.fail('nothing was thrown')
}

test('one message for a non-object and for an unknown name, at every entry point', async () => {
  for (const [who, call] of ENTRY_POINTS) {
    const notObject = await thrown(() => call(5))
    assert.equal(notObject.name, 'TypeError', who)
    assert.equal(notObject.message, `${who} options must be an object, got 5`)
    const unknown = await thrown(() => call({ bogus: 1 }))
    assert.equal(unknown.name, 'TypeError', who)
    assert.match(unknown.message, new RegExp(`^${who} has no option 'bogus' \\(known: [a-zA-Z]+(, [a-zA-Z]+)+\\)$`))
  }
})

test('no module of lib/ checks option names by hand', () => {
  const lib = path.join(__dirname, '..', 'lib')
  const files = fs.readdirSync(lib, { recursive: true }).filter(file => file.endsWith('.js'))
  const writers = files.filter(file => fs.readFileSync(path.join(lib, file), 'utf8').includes('has no option'))
  assert.deepEqual(writers, [path.join('shared', 'options.js')])
})
