'use strict'
// Every bad option is a TypeError or RangeError that names the option.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { HandleMap } = require('..')

const cases = [
  // [options, error class, option named in the message]
  [{ name: 42 }, TypeError, 'name'],
  [{ name: '' }, RangeError, 'name'],
  [{ name: 'bad\nname' }, RangeError, 'name'],
  [{ name: 'x'.repeat(10_000) }, RangeError, 'name'],
  [{ ttl: '100' }, TypeError, 'ttl'],
  [{ ttl: -1 }, RangeError, 'ttl'],
  [{ ttl: NaN }, RangeError, 'ttl'],
  [{ ttl: Infinity }, RangeError, 'ttl'],
  [{ ttl: 2 ** 31 }, RangeError, 'ttl'],
  [{ onExpire: 'log' }, TypeError, 'onExpire'],
  [{ callSites: 'some' }, RangeError, 'callSites'],
  [{ callSites: true }, TypeError, 'callSites'],
  [{ sampleRate: 0 }, RangeError, 'sampleRate'],
  [{ sampleRate: 1.5 }, RangeError, 'sampleRate'],
  [{ sampleRate: '64' }, TypeError, 'sampleRate'],
  [{ stackDepth: 0 }, RangeError, 'stackDepth'],
  [{ stackDepth: 100 }, RangeError, 'stackDepth'],
  [{ maxSize: -1 }, RangeError, 'maxSize'],
  [{ maxSize: 2.5 }, RangeError, 'maxSize'],
  [{ maxSize: NaN }, RangeError, 'maxSize'],
  [{ maxSize: '10' }, TypeError, 'maxSize'],
  [{ flushInterval: 0 }, RangeError, 'flushInterval'],
  [{ clock: 5 }, TypeError, 'clock'],
  [{ strict: 'yes' }, TypeError, 'strict'],
  [{ captureBudget: 0 }, RangeError, 'captureBudget'],
  [{ captureBudget: 1.5 }, RangeError, 'captureBudget'],
  [{ captureBudget: -0.01 }, RangeError, 'captureBudget'],
  [{ captureBudget: NaN }, RangeError, 'captureBudget'],
  [{ captureBudget: '1%' }, TypeError, 'captureBudget'],
  [{ random: 0.5 }, TypeError, 'random'],
  [{ ttlMs: 100 }, TypeError, 'ttlMs']
]

for (const [options, ErrorClass, option] of cases) {
  test(`option ${JSON.stringify(options).slice(0, 60)} throws ${ErrorClass.name} naming '${option}'`, () => {
    assert.throws(() => new HandleMap(options), error => {
      assert.equal(error.constructor, ErrorClass)
      assert.match(error.message, new RegExp(`'${option}'`))
      return true
    })
  })
}

test('non-object options are a TypeError; good options are accepted', () => {
  assert.throws(() => new HandleMap(5), TypeError)
  assert.throws(() => new HandleMap([], 'options'), TypeError)
  const map = new HandleMap({ name: 'ok', ttl: 0, callSites: 'off', sampleRate: 1, stackDepth: 1, maxSize: 0, flushInterval: 5, strict: false, onExpire () {}, clock: () => 0 })
  assert.throws(() => map.set(1, 1), RangeError)
  map.close()
  const unnamed = new HandleMap({ strict: false })
  assert.match(unnamed.name, /^HandleMap#\d+$/)
  unnamed.close()
})

test('a clock that returns garbage is a TypeError at the operation, not a crash', () => {
  let value = 0
  const map = new HandleMap({ ttl: 10, clock: () => value, strict: false })
  map.set('a', 1)
  value = NaN
  assert.throws(() => map.set('b', 2), TypeError)
  assert.equal(map.has('b'), false)
  value = 5
  map.set('b', 2)
  assert.deepEqual([...map.keys()], ['a', 'b'])
  map.close()
})

function childCallSites (env) {
  const script = `const { HandleMap } = require(${JSON.stringify(path.join(__dirname, '..'))});` +
    'const m = new HandleMap({ strict: false }); process.stdout.write(m.report().callSites); m.close()'
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_ENV: '', HANDLE_LEDGER_CALLSITES: '', ...env } })
  assert.equal(child.status, 0, child.stderr)
  return child.stdout
}

test("callSites default: 'auto' with or without NODE_ENV=production; HANDLE_LEDGER_CALLSITES overrides it", () => {
  assert.equal(childCallSites({}), 'auto')
  assert.equal(childCallSites({ NODE_ENV: 'production' }), 'auto')
  assert.equal(childCallSites({ NODE_ENV: 'production', HANDLE_LEDGER_CALLSITES: 'off' }), 'off')
  assert.equal(childCallSites({ HANDLE_LEDGER_CALLSITES: 'sampled' }), 'sampled')
  assert.equal(childCallSites({ HANDLE_LEDGER_CALLSITES: 'all' }), 'all')
  assert.equal(childCallSites({ HANDLE_LEDGER_CALLSITES: 'bogus' }), 'auto')
})
