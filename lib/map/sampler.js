'use strict'
// Which inserts and removes get their call site captured, and what that
// costs: the countdown's gaps ('sampled': random gaps averaging sampleRate;
// 'auto': gaps the capture budget sets, see capture-budget.js; 'all': none),
// the budget charge of every capture, and the sampling of remove sites.
// The map keeps the countdown itself (one decrement on its hot path) and asks
// here only when it reaches 0.

const { performance } = require('node:perf_hooks')
const callsite = require('./callsite.js')
const { CaptureBudget } = require('./capture-budget.js')

// Remove sites are captured for the first REMOVE_SITES_ALWAYS removes of
// each insert site (small sites are exact) and then at random, about one in
// REMOVE_SAMPLE_PERIOD: every site that has removes names a remove site, the
// shares are unbiased, and a cycle pays one capture, not two.
const REMOVE_SITES_ALWAYS = 8
const REMOVE_SAMPLE_PERIOD = 8

// Times captures in 'auto' mode (never the TTL clock: a monotonic source).
const monotonicMs = () => performance.now()

class Sampler {
  #budget
  #config
  #name
  #removeCounts = new Map()
  #removeCountdown = REMOVE_SAMPLE_PERIOD
  /** Inserts to let pass before the next capture, set by each insert capture. */
  gap = 1

  /** `config`: the map's normalized options (callSites, sampleRate, captureBudget, random, stackDepth). */
  constructor (config) {
    this.#config = config
    this.#name = config.name
    this.#budget = config.callSites === 'auto' ? new CaptureBudget(config.captureBudget, config.random, monotonicMs) : null
  }

  /** True when inserts are never captured ('off'). */
  get off () {
    return this.#config.callSites === 'off'
  }

  /** The countdown a new map starts from: 'auto' records its first insert. */
  firstGap () {
    if (this.off) return 0
    return this.#budget !== null ? 1 : this.#sampledGap()
  }

  /** Captures an insert's site (the stack below `below`) and sets `gap`. */
  captureInsert (below) {
    const budget = this.#budget
    if (budget === null) {
      const site = callsite.siteOf(below, this.#config.stackDepth)
      this.gap = this.#sampledGap()
      return site
    }
    const start = budget.now()
    const site = callsite.siteOf(below, this.#config.stackDepth)
    this.gap = budget.nextGap(start)
    return site
  }

  /** A remove's or clear's capture; in 'auto' its time counts against the budget. */
  capturePaid (below) {
    const budget = this.#budget
    if (budget === null) return callsite.siteOf(below, this.#config.stackDepth)
    const start = budget.now()
    const site = callsite.siteOf(below, this.#config.stackDepth)
    budget.paid(start)
    return site
  }

  /** Is this remove of an entry inserted at `site` one whose site is captured? */
  removeSampled (site) {
    const count = (this.#removeCounts.get(site) || 0) + 1
    this.#removeCounts.set(site, count)
    if (count <= REMOVE_SITES_ALWAYS) return true
    // Random gaps (mean REMOVE_SAMPLE_PERIOD), so a periodic pattern of
    // remove sites is not aliased onto one of them.
    if (--this.#removeCountdown > 0) return false
    this.#removeCountdown = 1 + Math.floor(this.#random() * (2 * REMOVE_SAMPLE_PERIOD - 1))
    return true
  }

  /** At the map's tick: a gap drawn at a rate that has since fallen is shortened. */
  replan (left) {
    const budget = this.#budget
    return budget === null ? left : budget.replan(budget.now(), left)
  }

  /** Test hook: time captures with `now` (ms), so a sampling run replays exactly. */
  useClock (now) {
    if (this.#budget !== null) this.#budget.now = now
  }

  #sampledGap () {
    // Random gaps averaging sampleRate, so periodic traffic is not aliased.
    const rate = this.#config.sampleRate
    return rate === 1 ? 1 : 1 + Math.floor(this.#random() * (2 * rate - 1))
  }

  // The `random` option (Math.random by default), checked: a test that
  // replays a sampling run must not get NaN gaps silently.
  #random () {
    const u = this.#config.random()
    if (typeof u !== 'number' || !(u >= 0 && u < 1)) {
      throw new TypeError(`HandleMap ${JSON.stringify(this.#name)}: option 'random' must return numbers in [0, 1), got ${typeof u === 'number' ? u : typeof u}`)
    }
    return u
  }
}

module.exports = { Sampler }
