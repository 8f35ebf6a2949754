'use strict'
// The partial leak of docs/diagnosis.md, on a simulated clock: a shared
// helper, callUpstream(), used by two routes; the orders route never deletes
// its entries. Used by scripts/screenshot-partial.js and the page test.

let now = Date.now()
const clock = () => now

function callUpstream (calls, id, path) { calls.set(id, { path }) }
function finish (calls, id) { calls.delete(id) }
function getUser (calls, id) { callUpstream(calls, id, '/user') }
function getOrder (calls, id) { callUpstream(calls, id, '/order') }

const ORDER_LINE = 12
const USER_LINE = 11

/**
 * Fills a map (made by `newMap(options)`) with 30 s of traffic: 120 user
 * calls removed after 2-40 ms, 40 order calls never removed.
 */
function simulatePartialLeak (newMap, name = 'upstream-calls') {
  const calls = newMap({ name, callSites: 'all', clock })
  let id = 0
  let firstOrder = null
  for (let step = 0; step < 40; step++) {
    for (let i = 0; i < 3; i++) {
      const user = ++id
      getUser(calls, user)
      now += 2 + ((step * 7 + i * 13) % 39)
      finish(calls, user)
    }
    getOrder(calls, ++id)
    if (firstOrder === null) firstOrder = now
    now += 10
  }
  now = firstOrder + 30_000 // the oldest order call is 30 s old
  return { calls, orderLine: ORDER_LINE, userLine: USER_LINE }
}

module.exports = { simulatePartialLeak }
