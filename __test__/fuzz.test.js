'use strict'
// A HandleMap never diverges from Map (and from a model of
// TTL expiry under a fake clock). Runs the differential fuzzer (support/fuzz.js; `npm run fuzz` for longer runs)
// on fixed seeds, so a failure replays, and checks the fuzzer itself finds
// and minimises planted bugs. Longer runs: npm run fuzz -- --seconds N.

const test = require('node:test')
const assert = require('node:assert/strict')
const { fuzz, runCase } = require('./support/fuzz.js')
const { HandleMap } = require('..')

const SEEDS = [1, 2, 3, 20261127]
const CASES_PER_SEED = 150

function explain (result) {
  const f = result.failure
  return `divergence (seed ${result.seed}, case seed ${f.caseSeed}): ${f.check}: ${f.message}\n` +
    `minimised from ${f.originalLength} to ${f.case.ops.length} operations:\n\n${f.reproduction}\n\nreplay JSON: ${f.json}`
}

for (const seed of SEEDS) {
  test(`fuzz seed ${seed}: ${CASES_PER_SEED} random cases, HandleMap and the model agree`, async t => {
    const result = await fuzz({ seed, cases: CASES_PER_SEED, seconds: 60 })
    t.diagnostic(`seed ${seed}: ${result.ops} operations in ${result.cases} cases`)
    assert.ok(result.ok, result.ok ? '' : explain(result))
    assert.equal(result.cases, CASES_PER_SEED)
    assert.ok(result.ops > CASES_PER_SEED * 10, 'cases carry operations')
  })
}

function useStack (frames) {
  return frames === 0 ? 0 : 1 + useStack(frames - 1)
}

// The fuzzer must be able to fail: maps with planted bugs are caught, and the
// reproduction is minimised to a few operations.
const PLANTED = {
  'delete(NaN) answers false': class extends HandleMap {
    delete (key) { return Number.isNaN(key) ? false : super.delete(key) }
  },
  'touch() does not restart the TTL': class extends HandleMap {
    touch (key) { return this.has(key) }
  },
  'keys() iterates a copy, blind to changes during iteration': class extends HandleMap {
    keys () { return [...super.keys()][Symbol.iterator]() }
  },
  'delete() throws after the key left the map, near the stack\'s edge': class extends HandleMap {
    delete (key) {
      const had = super.delete(key)
      useStack(16)
      return had
    }
  },
  'expired entries never reach onExpire': class extends HandleMap {
    constructor (first, second) {
      const withoutOnExpire = options => ({ ...options, onExpire: undefined })
      if (first != null && typeof first[Symbol.iterator] === 'function') super(first, withoutOnExpire(second))
      else super(withoutOnExpire(first))
    }
  }
}

for (const [bug, MapClass] of Object.entries(PLANTED)) {
  test(`the fuzzer finds and minimises a planted bug: ${bug}`, async () => {
    const result = await fuzz({ seed: 7, seconds: 60, MapClass })
    assert.equal(result.ok, false, 'the planted bug was not found')
    const f = result.failure
    assert.ok(f.case.ops.length <= 8, `not minimised: ${f.case.ops.length} operations left\n${f.reproduction}`)
    assert.ok(f.case.ops.length <= f.originalLength)
    // The minimised case still fails, and passes on the real HandleMap.
    assert.notEqual(runCase(f.case, { MapClass }).failure, null)
    assert.equal(runCase(f.case).failure, null, `the minimised case fails on HandleMap itself:\n${f.reproduction}`)
    assert.match(f.reproduction, /new HandleMap\(/)
  })
}
