'use strict'
// The sampler of callSites 'auto': how many inserts to let pass before the
// next call-site capture, so that capturing costs at most a share of the
// thread's time (the budget), whatever the insert rate.
//
// A capture costs 3-18 us here depending on how V8 optimized the caller, so
// no fixed rate bounds what a hot map pays; the cost itself is measured.
// The map counts inserts down to the next capture (no clock read per insert);
// only a capture reads the clock, before and after, and hands its cost here:
//
// - Capture time is paid from a credit that grows by `share` of the elapsed
//   time (a token bucket). It starts full at `share` of BURST_WINDOW_MS, so
//   a map inserting in a burst right after start-up still names its sites;
//   the first FIRST_CAPTURES of a map are always taken (and leave no debt).
//   Once the map has been in debt, the bucket holds only `share` of
//   STEADY_WINDOW_MS: a credit regained during a long gap is spent in a
//   short run of captures, not in a burst of hundreds.
// - While the credit is positive every insert is recorded: a map whose
//   captures fit the budget is exact.
// - In debt, the next capture comes once the credit has grown back: the
//   wait divided by the time one insert took lately (over the last few
//   gaps, weighted by their inserts) gives the mean gap, and
//   the gap is drawn from a geometric distribution of that mean. Random gaps
//   keep periodic traffic from aliasing onto one site, and each recorded
//   insert stands for the unrecorded ones before it (the ledger weighs it so).
// - The map's tick calls `replan` with the clock it already reads: a map
//   whose insert rate fell after a long gap was drawn resumes capturing
//   within one flush interval, not after the old gap ran out.
// - A capture is timed on the wall clock, so a GC pause or the OS running
//   another thread in the middle of it reads as capture time. Measured here
//   (a paced 120 inserts/s, cold callers, a loaded 2-core machine): captures
//   of 20-90 us, and one of 3.7 ms now and then; that one put a map whose
//   captures cost under 1% of its thread into debt, and its figures turned
//   estimated for good. So one capture is charged at most MAX_CHARGE_MS:
//   what lasts longer was an interruption, not capturing.

const BURST_WINDOW_MS = 2000
const STEADY_WINDOW_MS = 100
// The time per insert is averaged over gaps whose weight halves each gap.
const RATE_MEMORY = 0.5
const FIRST_CAPTURES = 1000
const MAX_GAP = 2 ** 30
const MAX_CHARGE_MS = 1

class CaptureBudget {
  #share
  #random
  #capacity
  #credit
  #lastAccrual = null
  #lastInsertCapture = null
  #recentMs = 0
  #recentInserts = 0
  // Inserts since the last insert capture, once the current gap runs out.
  #gap = 1
  #captures = 0

  /**
   * @param {number} share the budget, a share of the thread's time in (0, 1]
   * @param {() => number} random uniform in [0, 1)
   * @param {() => number} now a monotonic clock in ms (performance.now)
   */
  constructor (share, random, now) {
    this.#share = share
    this.#random = random
    this.now = now
    this.#capacity = share * BURST_WINDOW_MS
    this.#credit = this.#capacity
  }

  /** Pays for a capture that began at `start` (a remove's or a clear's). */
  paid (start) {
    this.#spend(start, this.now())
  }

  /** What the capture from `start` to `end` is charged (see MAX_CHARGE_MS). */
  static charge (start, end) {
    return Math.min(Math.max(0, end - start), MAX_CHARGE_MS)
  }

  /**
   * Pays for an insert's capture that began at `start`; returns how many
   * inserts to let pass before the next one (1 = the very next insert).
   */
  nextGap (start) {
    const end = this.now()
    if (this.#lastInsertCapture !== null) this.#observe(Math.max(0, start - this.#lastInsertCapture), this.#gap)
    this.#spend(start, end)
    // The first captures are a one-off allowance: they may empty the credit
    // but leave no debt (a debt made at start-up rates would be repaid at the
    // rate of start-up, with a silence far longer than needed).
    if (this.#captures < FIRST_CAPTURES && this.#credit < 0) this.#credit = 0
    this.#lastInsertCapture = end
    this.#captures++
    this.#gap = this.#gapFor(this.#perInsertMs(0, 0))
    // The bookkeeping above is capture time too, and a GC that lands in it
    // is not rare at high insert rates (measured: a fifth of the capture time).
    this.#credit -= CaptureBudget.charge(end, this.now())
    return this.#gap
  }

  /**
   * Re-plans a gap in progress at `now`, with `left` inserts of it still to
   * go; returns the new number to go. Geometric gaps have no memory, so
   * drawing the rest afresh keeps them what they were.
   */
  replan (now, left) {
    if (left <= 1 || this.#lastInsertCapture === null) return left
    this.#accrue(now)
    const passed = this.#gap - left
    // The gap in progress counts as if it ended now.
    const rest = this.#gapFor(this.#perInsertMs(Math.max(0, now - this.#lastInsertCapture), passed))
    if (rest >= left) return left // the rate did not fall: keep the gap drawn
    this.#gap = passed + rest
    return rest
  }

  /** Capture time still allowed, in ms (negative: in debt). */
  get credit () {
    return this.#credit
  }

  #spend (start, end) {
    this.#accrue(end)
    this.#credit -= CaptureBudget.charge(start, end)
    if (this.#credit < 0 && this.#captures >= FIRST_CAPTURES) this.#capacity = Math.min(this.#capacity, this.#share * STEADY_WINDOW_MS)
  }

  #observe (ms, inserts) {
    this.#recentMs = this.#recentMs * RATE_MEMORY + ms
    this.#recentInserts = this.#recentInserts * RATE_MEMORY + inserts
  }

  // Time per insert (ms) lately, with `ms` over `inserts` of a gap in progress.
  #perInsertMs (ms, inserts) {
    const total = this.#recentInserts * RATE_MEMORY + inserts
    return total > 0 ? (this.#recentMs * RATE_MEMORY + ms) / total : 0
  }

  #accrue (now) {
    if (this.#lastAccrual !== null && now > this.#lastAccrual) {
      this.#credit = Math.min(this.#capacity, this.#credit + this.#share * (now - this.#lastAccrual))
    }
    if (this.#lastAccrual === null || now > this.#lastAccrual) this.#lastAccrual = now
  }

  #gapFor (perInsertMs) {
    if (this.#credit >= 0 || this.#captures < FIRST_CAPTURES) return 1
    // A clock too coarse to see one insert: assume 1 ns each (the tick re-plans).
    const meanGap = -this.#credit / this.#share / Math.max(perInsertMs, 1e-6)
    return geometricGap(meanGap, this.#random)
  }
}

/** A gap of mean `mean` (>= 1): geometric, so sampling has no period. */
function geometricGap (mean, random) {
  if (!(mean > 1)) return 1
  if (mean >= MAX_GAP) return MAX_GAP
  const u = random()
  if (typeof u !== 'number' || !(u >= 0 && u < 1)) {
    throw new TypeError(`HandleMap option 'random' must return numbers in [0, 1), got ${typeof u === 'number' ? u : typeof u}`)
  }
  // Inverse transform: P(gap > k) = (1 - 1/mean)^k.
  const gap = 1 + Math.floor(Math.log1p(-u) / Math.log1p(-1 / mean))
  return Math.min(gap, MAX_GAP)
}

module.exports = { CaptureBudget, geometricGap, FIRST_CAPTURES, BURST_WINDOW_MS, MAX_CHARGE_MS }
