'use strict'
// What a recorded insert's capture costs at depth 1 and at stackDepth 8, the
// caller 8 frames deep (median of 7 rounds of 50,000 captures, a stack seen
// before: the cost of every insert in 'all' mode after warm-up).
//
//   node bench/capture-depth.js

const callsite = require('../lib/map/callsite.js')

const median = values => values.slice().sort((a, b) => a - b)[values.length >> 1]

function measure (depth) {
  function caller () { return callsite.siteOf(caller, depth) }
  function a () { return caller() }
  function b () { return a() }
  function c () { return b() }
  function d () { return c() }
  function e () { return d() }
  function f () { return e() }
  function g () { return f() }
  const runs = []
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < 50_000; i++) g()
    runs.push(Number(process.hrtime.bigint() - start) / 50_000)
  }
  return median(runs)
}

for (let round = 0; round < 3; round++) {
  const one = measure(1)
  const eight = measure(8)
  console.log(`depth 1: ${one.toFixed(0)} ns, depth 8: ${eight.toFixed(0)} ns (${(eight / one).toFixed(2)}x)`)
}
