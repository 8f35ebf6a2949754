'use strict'
// Calling a function near the stack's edge: recurse until the stack
// overflows, unwind some frames, and call it there.

const UNWIND = Symbol('unwind')

// Called with `slack` extra arguments, which take 8 bytes of stack each.
function padded () {
  return arguments[0]()
}

/**
 * Recurses until the stack overflows, unwinds `back` frames, and calls `fn`
 * there with `slack` words less stack: `{ value }` or `{ error }`. Sweeping
 * `slack` word by word makes `fn` meet the overflow at each call it makes.
 */
function callNearStackEdge (back, slack, fn) {
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
}

module.exports = { callNearStackEdge }
