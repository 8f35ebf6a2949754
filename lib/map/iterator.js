'use strict'
// values() and entries() of a HandleMap walk the underlying Map's own
// iterator, so they see exactly the mutations a Map iterator sees (deleted
// entries skipped, added ones visited, clear() ends them), and read each
// value when they reach it.

class HandleMapIterator {
  #inner
  #valueOf
  #withKeys

  constructor (inner, valueOf, withKeys) {
    this.#inner = inner
    this.#valueOf = valueOf
    this.#withKeys = withKeys
  }

  next () {
    const step = this.#inner.next()
    if (step.done) return { value: undefined, done: true }
    if (!this.#withKeys) return { value: this.#valueOf(step.value), done: false }
    const [key, handle] = step.value
    return { value: [key, this.#valueOf(handle)], done: false }
  }

  [Symbol.iterator] () {
    return this
  }

  get [Symbol.toStringTag] () {
    return 'Map Iterator'
  }
}

module.exports = { HandleMapIterator }
