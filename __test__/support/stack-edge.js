'use strict'
// Calling a function near the stack's edge: recurse until the stack
// overflows, unwind some frames, and call it there.

// The text of callNearStackEdge, so that a printed reproduction
// (support/fuzz.js) runs the very same code.
const NEAR_STACK_EDGE_SOURCE = `function callNearStackEdge (back, slack, fn) {
  // Called with \`slack\` extra arguments, which take 8 bytes of stack each.
  const padded = function () { return arguments[0]() }
  const UNWIND = {}
  const args = new Array(slack + 1).fill(0)
  args[0] = fn
  let remaining = back
  let outcome
  function dive () {
    try {
      dive()
    } catch (error) {
      if (outcome !== undefined) return
      if (error !== UNWIND && !(error instanceof RangeError)) throw error
      if (remaining-- > 0) throw UNWIND
      try {
        outcome = { value: Reflect.apply(padded, null, args) }
      } catch (thrown) {
        outcome = { error: thrown }
      }
    }
  }
  dive()
  return outcome
}`

/**
 * Recurses until the stack overflows, unwinds `back` frames, and calls `fn`
 * there with `slack` words less stack: `{ value }` or `{ error }`. Sweeping
 * `slack` word by word makes `fn` meet the overflow at each call it makes.
 */
const callNearStackEdge = new Function(`return ${NEAR_STACK_EDGE_SOURCE}`)()

/** Smallest integer in [low, high] for which `works` holds (`works` is monotonic enough). */
function firstWorking (low, high, works) {
  while (low < high) {
    const mid = (low + high) >> 1
    if (works(mid)) high = mid
    else low = mid + 1
  }
  return low
}

/**
 * Runs `attempt(back, slack)` (true when the operation completed) across the
 * stack's edge: enough frames back for it to complete, then the most slack
 * it still completes with, and every word of slack from a little before
 * that to `beyond` words past it, so each call inside the operation meets
 * the edge in turn.
 */
function sweepStackEdge (attempt, beyond) {
  const back = firstWorking(0, 4096, b => attempt(b, 0))
  const most = firstWorking(0, 20_000, s => !attempt(back, s)) - 1
  for (let slack = Math.max(0, most - 4); slack < most + beyond; slack++) attempt(back, slack)
}

module.exports = { callNearStackEdge, firstWorking, sweepStackEdge, NEAR_STACK_EDGE_SOURCE }
