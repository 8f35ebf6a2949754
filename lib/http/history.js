'use strict'
// Live-count history for the /debug/handles page: every map's live count,
// sampled at a fixed interval into a bounded ring, so the page can draw "live
// entries over the last minutes" without the process keeping anything that
// grows. With each sample go the entries inserted and expired since the
// previous one (from the map's lifetime counters): a burst that comes and
// expires between two samples never shows in the live count, but always in
// the counts per interval. The shared sampler starts lazily (when the first debugHandles()
// handler is created), never at require time, and its timer is unref'd so it
// never keeps a process alive.

const { registry } = require('../report/registry.js')

const INTERVAL_MS = 5_000
const CAPACITY = 120 // 120 samples x 5 s = the last 10 minutes
const MAX_MAPS = 500 // beyond that, only the maps with the most live entries

class LiveHistory {
  #read
  #times
  #next
  #count
  #maps
  #samples
  #timer

  /**
   * `read()` returns `[{ id, name, live, inserts, expired }]` for every map
   * (inserts and expired: lifetime counters, optional); it is called once
   * per sample. Memory: capacity x (1 + 3 x maxMaps) numbers at most.
   */
  constructor ({ intervalMs = INTERVAL_MS, capacity = CAPACITY, maxMaps = MAX_MAPS, read = readRegistry } = {}) {
    this.intervalMs = intervalMs
    this.capacity = capacity
    this.maxMaps = maxMaps
    this.#read = read
    this.#times = new Float64Array(capacity)
    this.#next = 0 // ring index the next sample goes to
    this.#count = 0 // samples held (<= capacity)
    this.#maps = new Map() // id -> { name, values: Float64Array (NaN = absent), lastSample }
    this.#samples = 0 // samples taken since start, to age maps out
    this.#timer = null
    this.lastError = null
  }

  get running () {
    return this.#timer !== null
  }

  /** Starts sampling (idempotent); takes a first sample now so a page has a point. */
  start () {
    if (this.#timer !== null) return this
    this.#timer = setInterval(() => this.sampleNow(), this.intervalMs)
    this.#timer.unref()
    this.sampleNow()
    return this
  }

  stop () {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /**
   * Records one sample of every map's live count. `at` is only for scripts
   * that draw a demo history; the timer always uses the wall clock.
   */
  sampleNow (at = Date.now()) {
    let maps
    try {
      maps = this.#read()
    } catch (error) {
      // The page reports errors of the report itself; a failed sample is a gap.
      this.lastError = error
      maps = []
    }
    const slot = this.#next
    this.#times[slot] = at
    this.#samples++
    for (const entry of this.#maps.values()) {
      entry.values[slot] = NaN
      entry.inserted[slot] = NaN
      entry.expired[slot] = NaN
    }
    for (const map of this.#tracked(maps)) this.#record(map, slot)
    this.#forgetGone()
    this.#next = (slot + 1) % this.capacity
    this.#count = Math.min(this.#count + 1, this.capacity)
  }

  /** `[{ at, live }]`, oldest first, of map `id` (empty when never sampled). */
  series (id) {
    const entry = this.#maps.get(id)
    if (entry === undefined) return []
    const points = []
    const first = (this.#next - this.#count + this.capacity) % this.capacity
    for (let i = 0; i < this.#count; i++) {
      const slot = (first + i) % this.capacity
      const live = entry.values[slot]
      if (!Number.isNaN(live)) points.push({ at: this.#times[slot], live })
    }
    return points
  }

  /**
   * `[{ at, inserted, expired }]`, oldest first, of map `id`: the entries
   * inserted and expired in the interval that ends at `at` (samples whose
   * interval is unknown, the first one of the history, are left out).
   */
  activity (id) {
    const entry = this.#maps.get(id)
    if (entry === undefined) return []
    const points = []
    const first = (this.#next - this.#count + this.capacity) % this.capacity
    for (let i = 0; i < this.#count; i++) {
      const slot = (first + i) % this.capacity
      const inserted = entry.inserted[slot]
      if (!Number.isNaN(inserted)) points.push({ at: this.#times[slot], inserted, expired: entry.expired[slot] })
    }
    return points
  }

  /** How many maps the ring holds figures for (bounded by maxMaps). */
  get mapCount () {
    return this.#maps.size
  }

  #tracked (maps) {
    if (maps.length <= this.maxMaps) return maps
    return [...maps].sort((a, b) => b.live - a.live).slice(0, this.maxMaps)
  }

  #record (map, slot) {
    let entry = this.#maps.get(map.id)
    if (entry === undefined) {
      if (this.#maps.size >= this.maxMaps) return
      entry = {
        name: map.name,
        values: new Float64Array(this.capacity).fill(NaN),
        inserted: new Float64Array(this.capacity).fill(NaN),
        expired: new Float64Array(this.capacity).fill(NaN),
        // A map first seen after the first sample was created since the
        // previous one: all its counts belong to this interval.
        lastInserts: this.#samples === 1 ? NaN : 0,
        lastExpired: this.#samples === 1 ? NaN : 0,
        lastSample: 0
      }
      this.#maps.set(map.id, entry)
    }
    entry.values[slot] = map.live
    if (typeof map.inserts === 'number' && typeof map.expired === 'number') {
      entry.inserted[slot] = map.inserts - entry.lastInserts
      entry.expired[slot] = map.expired - entry.lastExpired
      entry.lastInserts = map.inserts
      entry.lastExpired = map.expired
    }
    entry.lastSample = this.#samples
  }

  // A map absent for a whole ring (closed, or pushed out by bigger maps) has
  // nothing left to draw; dropping it keeps the ring's size bounded.
  #forgetGone () {
    for (const [id, entry] of this.#maps) {
      if (this.#samples - entry.lastSample >= this.capacity) this.#maps.delete(id)
    }
  }
}

function readRegistry () {
  return registry.report({ limit: 0 }).maps.map(map => ({ id: map.id, name: map.name, live: map.live, inserts: map.inserts, expired: map.expired }))
}

let shared = null

/** The process's sampler (per JS thread), created and started on first use. */
function sharedHistory () {
  if (shared === null) shared = new LiveHistory()
  return shared.start()
}

/** The shared sampler if something started it, else null (never starts it). */
function existingHistory () {
  return shared
}

module.exports = { LiveHistory, sharedHistory, existingHistory, INTERVAL_MS, CAPACITY }
