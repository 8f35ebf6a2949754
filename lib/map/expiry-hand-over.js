'use strict'
// Handing expired entries to the user: the second half of an expiry. The map
// takes each due entry out of its own tables first (stores and Map builtins
// only, see handle-map.js) and queues it here; delivery then describes each
// entry's site, publishes it on `handle-ledger:expire`, warns of it in strict
// mode, and calls onExpire. An entry leaves the queue as it is handed over,
// so a delivery cut short (the stack's edge, a throwing subscriber) resumes
// at the next tick: no expired entry is lost on the way.

const callsite = require('./callsite.js')
const { appFrameOf, labelOf } = require('./app-frame.js')
const { expireChannel, publishExpired } = require('./channels.js')
const { warn, describeThrown } = require('./warnings.js')
const { clean, insertedAt } = require('../shared/format.js')
const { expiryWarning } = require('../shared/verdicts.js')

const WARNING_INTERVAL_MS = 60_000

class ExpiryHandOver {
  #config
  #mapId
  #expiringSites
  #lastWarning = new Map()
  /**
   * Entries taken out of the map, to hand over from `#next` on:
   * `{ key, value, siteId, ageMs, held, slot, serial }`.
   */
  queue = []
  // Entries before it are handed over (their cells emptied, so their values
  // are not kept); an index, because shifting a long array copies it.
  #next = 0
  #delivering = false
  #mapHolds

  /**
   * @param {object} config the map's normalized options (name, strict, onExpire)
   * @param {() => number} mapId the map's registry id
   * @param {() => string[]} expiringSites where the map's expired entries were
   *   inserted, by the ledger's estimate (for an entry whose own site was not sampled)
   * @param {(queued: object) => boolean} mapHolds whether the map still holds
   *   the entry a queued one was taken from (its take-out was cut short)
   */
  constructor (config, mapId, expiringSites, mapHolds) {
    this.#config = config
    this.#mapId = mapId
    this.#expiringSites = expiringSites
    this.#mapHolds = mapHolds
  }

  /** How many queued entries are not handed over yet. */
  get pending () {
    return this.queue.length - this.#next
  }

  /**
   * Hands every queued entry over, those queued meanwhile too; returns how
   * many. Throws the first error a hand-over threw, after the others. A call
   * from inside a hand-over (onExpire calling purgeExpired()) returns 0: the
   * delivery under way hands everything over, each entry once. An entry the
   * map still holds is dropped from the queue, not handed over: it did not
   * leave the map, and the map rebuilds its ledger.
   */
  deliver () {
    if (this.#delivering || this.pending === 0) return 0
    this.#delivering = true
    let delivered = 0
    let failure = null
    try {
      while (this.pending > 0) {
        const queue = this.queue
        const waiting = queue.slice(this.#next)
        const out = waiting.map(queued => !this.#mapHolds(queued))
        const entries = waiting.filter((_, i) => out[i]).map(describeEntry) // may throw: these stay queued
        if (expireChannel.hasSubscribers) publishExpired(this.#config.name, this.#mapId(), entries)
        let described = 0
        for (let i = 0; i < waiting.length; i++) {
          queue[this.#next++] = undefined // handed over from here, whatever the callbacks do
          if (!out[i]) continue
          const entry = entries[described++]
          delivered++
          try {
            this.#handOver(entry)
          } catch (error) {
            failure ??= { error }
          }
        }
      }
      this.queue = []
      this.#next = 0
    } finally {
      this.#delivering = false
    }
    if (failure !== null) throw failure.error
    return delivered
  }

  #handOver (entry) {
    // A held entry that expires is a call still running, not a lost cleanup.
    if (this.#config.strict && !entry.held) this.#warnOfLeak(entry)
    const onExpire = this.#config.onExpire
    if (onExpire === undefined) return
    try {
      onExpire(entry)
    } catch (error) {
      const at = entry.site ? clean(insertedAt(entry.site, entry)) : 'an unrecorded site'
      warn(this.#config.name, `onExpire threw for an entry inserted at ${at}: ${describeThrown(error)}`, 'HANDLE_LEDGER_CALLBACK_FAILED',
        'The entry had already left the map; fix onExpire (or catch inside it) so expiry work is not lost.', error)
    }
  }

  // Strict mode: an expired entry is a leak; say so once per site per minute.
  #warnOfLeak (entry) {
    const recorded = typeof entry.site === 'string'
    // Muted per insert site and app line (a label, which names the caller,
    // depends on which siblings the site has shown so far); the warning
    // names the caller.
    const key = recorded ? `${entry.site}\u0000${entry.appFrame}` : null
    const site = recorded ? insertedAt(entry.site, entry) : null
    const now = Date.now()
    const last = this.#lastWarning.get(key)
    if (last !== undefined && now - last < WARNING_INTERVAL_MS) return
    this.#lastWarning.set(key, now)
    const { message, detail } = recorded
      ? expiryWarning({ mapName: this.#config.name, where: clean(site), ageMs: entry.ageMs })
      : this.#unrecordedWarning(entry)
    const warning = new Error(message)
    warning.name = 'HandleLeakWarning'
    warning.code = 'HANDLE_LEDGER_EXPIRED'
    warning.detail = detail
    warning.map = this.#config.name
    warning.site = entry.site
    warning.appFrame = entry.appFrame
    warning.label = entry.label
    warning.ageMs = entry.ageMs
    process.emitWarning(warning)
  }

  // An entry whose insert was not sampled: the ledger still knows, by its
  // weighted estimate, which sites' entries expire.
  #unrecordedWarning (entry) {
    const sites = this.#expiringSites()
    if (sites.length === 0) {
      const { message } = expiryWarning({ mapName: this.#config.name, where: 'a site sampling did not record', ageMs: entry.ageMs })
      return {
        message,
        detail: "Its insert was not sampled and no recorded site has expired entries yet. Set callSites: 'all' (or HANDLE_LEDGER_CALLSITES=all) to record every insert."
      }
    }
    const named = sites.map(clean).join(' or ')
    const { message, detail } = expiryWarning({ mapName: this.#config.name, where: `~${named} (estimated: this insert was not sampled)`, ageMs: entry.ageMs })
    return { message, detail: `${detail.replace(' (estimated: this insert was not sampled)', '').replace(`~${named}`, named)} Set callSites: 'all' to record every insert.` }
  }
}

// A queued entry as onExpire and the channel receive it.
function describeEntry ({ key, value, siteId, ageMs, held }) {
  const { site, stack } = callsite.describeStack(siteId)
  const { appFrame, inDependency } = appFrameOf(stack)
  return { key, value, ageMs, site, stack, held, appFrame, inDependency, label: labelOf(stack) }
}

module.exports = { ExpiryHandOver }
