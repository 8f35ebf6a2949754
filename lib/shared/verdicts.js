'use strict'
// Verdicts in words: the one place a verdict ({ rule, scope, ...figures },
// from the native rules in src/rules.rs or the diff's growth rule) becomes
// the sentence that text reports, the page, warnings, the CLI, leakCheck and
// diagnostics_channel messages show, and the one duration format they use.
//
// A leaf module: it requires nothing.

/** The rules' names, as verdicts carry them in `rule`. */
const RULES = Object.freeze({
  NEVER_REMOVED: 'never-removed',
  OUTLIERS: 'outliers',
  EXPIRY_SHARE: 'expiry-share',
  GROWTH: 'growth'
})

/** A duration as people say it: "40 ms", "12.3 s", "4.2 min", "1.5 h"; "-" for none. */
function duration (ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`
  return `${(ms / 3_600_000).toFixed(1)} h`
}

// Counts as the report's rows show them (weighted estimates are whole numbers).
function count (n) {
  return String(Math.round(n))
}

function percent (share) {
  const p = 100 * share
  return p < 10 ? p.toFixed(1) : p.toFixed(0)
}

// "1 in 41000" below a million, "1 in 3.1e9" past it.
function oneIn (chance) {
  if (!(chance > 0)) return '1 in more than 1e300'
  const odds = 1 / chance
  if (odds < 1e6) return `1 in ${count(odds)}`
  const [mantissa, exponent] = odds.toExponential(1).split('e+')
  return `1 in ${mantissa}e${exponent}`
}

// What the reference's removed entries say is normal.
function normalLifetimes (whose, e) {
  if (e.lifetimes >= 1000) return `${whose} entries are removed within ${duration(e.p999Ms)} 999 times in 1000`
  if (e.lifetimes >= 100) return `${whose} entries are removed within ${duration(e.p99Ms)} 99 times in 100`
  return `${whose} ${count(e.lifetimes)} removed entries all ended within ${duration(e.maxMs)}`
}

// How many of the reference outlived the age, and the chance of the rest.
function weighed (e) {
  const others = e.versus === 'other-callers'
  const beyond = e.referenceBeyond === 0 ? 'none' : count(e.referenceBeyond)
  return `${beyond} of ${others ? 'their' : 'its'} ${count(e.reference)} outlived ${duration(e.olderThanMs)} ` +
    `(chance ${oneIn(e.chance)} if ${others ? 'this caller were like them' : 'nothing were wrong'})`
}

function whoseHistory (e, scope) {
  if (e.versus === 'other-callers') return 'the site\'s other callers\''
  return scope === 'site' ? 'this site\'s' : 'this caller\'s'
}

function neverRemoved (v, approx, caller) {
  if (v.evidence) {
    const e = v.evidence
    const from = caller ? `caller ${caller}` : 'this caller'
    const expired = v.expired > 0 ? `, ${approx}${count(v.expired)} expired by the TTL` : ''
    return `never removed from ${from}: ${approx}${count(v.live)} live${expired}, oldest ${duration(v.oldestMs)}; ` +
      `${normalLifetimes(whoseHistory(e, v.scope), e)}, and ${weighed(e)}`
  }
  if (v.expired > 0 && v.live === 0) return `entries only ever expire (${approx}${count(v.expired)} expired), never removed`
  if (v.expired > 0) return `never removed: ${approx}${count(v.live)} live, ${approx}${count(v.expired)} expired by the TTL`
  return 'inserted but never removed'
}

function outliers (v, approx, caller) {
  const e = v.evidence
  const n = `${approx}${count(v.count)}${v.more ? '+' : ''}`
  const one = v.count === 1 && !v.more
  const of = caller ? ` of caller ${caller}` : ''
  return `${n} live ${one ? 'entry' : 'entries'}${of} ${one ? 'is' : 'are'} older than ${duration(e.olderThanMs)} (oldest ${duration(v.oldestMs)}), ` +
    `where ${whoseHistory(e, v.scope)} history expects ${e.expected < 10 ? e.expected.toFixed(1) : count(e.expected)}; ` +
    `${normalLifetimes(e.versus === 'other-callers' ? 'their' : 'its', e)}, and ${weighed(e)}`
}

function expiryShare (v, approx, caller) {
  const whose = v.scope === 'site' ? 'this site\'s' : caller ? `caller ${caller}'s` : 'this caller\'s'
  return `${percent(v.share)}% of ${whose} entries expire instead of being removed (${approx}${count(v.expired)} expired, ${approx}${count(v.removed)} removed)`
}

function growth (v, approx) {
  return `live grew by ${approx}${count(v.grown)} (${approx}${count(v.from)} -> ${approx}${count(v.to)}) in ${duration(v.windowMs)} ` +
    `while ${approx}${count(v.removed)} were removed; the oldest has lived ${duration(v.oldestMs)}, through the whole window; ` +
    `entries of this site are normally removed within ${duration(v.p99Ms)} (p99)`
}

const SENTENCES = {
  [RULES.NEVER_REMOVED]: neverRemoved,
  [RULES.OUTLIERS]: outliers,
  [RULES.EXPIRY_SHARE]: expiryShare,
  [RULES.GROWTH]: growth
}

/**
 * The sentence of a verdict. `caller` (a caller label) names the caller
 * when a caller's verdict is shown for its whole site. Null for no verdict;
 * a rule this version does not know is named, not guessed at.
 */
function reasonOf (verdict, { caller = null } = {}) {
  if (verdict === null || verdict === undefined) return null
  const sentence = SENTENCES[verdict.rule]
  if (sentence === undefined) return `suspect by rule ${JSON.stringify(String(verdict.rule))}`
  const approx = verdict.estimated ? '~' : ''
  return sentence(verdict, approx, verdict.scope === 'caller' ? caller : null)
}

/**
 * A report row's reason: its verdict's sentence, or the reason it carries
 * (a report saved by a version that wrote no verdicts).
 */
function reasonOfRow (row, caller = null) {
  if (row.verdict) return reasonOf(row.verdict, { caller })
  return typeof row.reason === 'string' ? row.reason : null
}

/**
 * A strict map's warning for an entry that expired without being removed:
 * `{ message, detail }`. `where` names the insert site and caller as
 * format.js's where() does.
 */
function expiryWarning ({ mapName, where, ageMs }) {
  return {
    message: `HandleMap ${JSON.stringify(mapName)}: an entry inserted at ${where} expired after ${duration(ageMs)} without being removed (further warnings for this site are muted for a minute)`,
    detail: `Remove the entry on every path out of ${where}, or raise the map's ttl if it is meant to live longer.`
  }
}

module.exports = { RULES, duration, reasonOf, reasonOfRow, expiryWarning }
