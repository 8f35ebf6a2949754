'use strict'
// Validation of HandleMap options: every bad value is a TypeError or
// RangeError that names the option and says what was expected.

const { checkOptionNames, describeValue } = require('../shared/options.js')

const MODES = ['auto', 'all', 'sampled', 'off']
const KNOWN = new Set([
  'name', 'ttl', 'onExpire', 'callSites', 'sampleRate', 'stackDepth', 'maxSize',
  'flushInterval', 'clock', 'strict', 'captureBudget', 'random'
])
// 'auto' spends at most this share of the thread's time capturing call sites.
const DEFAULT_CAPTURE_BUDGET = 0.01
// 24.8 days, as setTimeout's longest delay.
const MAX_TTL_MS = 2 ** 31 - 1
const MAX_NAME_LENGTH = 200
// Control characters would corrupt the text report, log lines and metric labels.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/
// A lone surrogate is not text: the native ledger (UTF-8) would store a
// different name than the map reports, and lookups by name would miss it.
const LONE_SURROGATE = /\p{Surrogate}/u

let warnedAboutEnv = false
let unnamed = 0

function fail (ErrorClass, option, expected, value) {
  return new ErrorClass(`HandleMap option '${option}' must be ${expected}, got ${describeValue(value)}`)
}

function finiteNumber (option, value, min, max, expected) {
  if (typeof value !== 'number') throw fail(TypeError, option, expected, value)
  if (!Number.isFinite(value) || value < min || value > max) throw fail(RangeError, option, expected, value)
  return value
}

function integer (option, value, min, max, expected) {
  finiteNumber(option, value, min, max, expected)
  if (!Number.isInteger(value)) throw fail(RangeError, option, expected, value)
  return value
}

function defaultCallSites () {
  const fromEnv = process.env.HANDLE_LEDGER_CALLSITES
  if (fromEnv !== undefined && fromEnv !== '') {
    if (MODES.includes(fromEnv)) return fromEnv
    if (!warnedAboutEnv) {
      warnedAboutEnv = true
      process.emitWarning(`HANDLE_LEDGER_CALLSITES=${JSON.stringify(fromEnv)} is not one of ${MODES.join(', ')}; ignored`, { type: 'HandleLedgerWarning', code: 'HANDLE_LEDGER_BAD_ENV', detail: `Set it to one of ${MODES.join(', ')}, or unset it.` })
    }
  }
  // The same in production and development: 'auto' bounds the cost itself.
  return 'auto'
}

function defaultStrict () {
  const fromEnv = process.env.HANDLE_LEDGER_STRICT
  if (fromEnv === '1') return true
  if (fromEnv === '0') return false
  return process.env.NODE_ENV !== 'production'
}

/** Checks `options` and fills in the defaults. */
function normalize (options) {
  options = checkOptionNames(options, 'HandleMap', KNOWN)
  const {
    name, ttl = 0, onExpire, callSites = defaultCallSites(), sampleRate = 64, stackDepth = 8, maxSize = Infinity,
    clock, strict = defaultStrict(), captureBudget = DEFAULT_CAPTURE_BUDGET, random = Math.random
  } = options

  if (name !== undefined) {
    if (typeof name !== 'string') throw fail(TypeError, 'name', 'a string', name)
    if (LONE_SURROGATE.test(name)) throw fail(TypeError, 'name', 'well-formed Unicode text (it has a lone surrogate)', name)
    if (name.length === 0 || name.length > MAX_NAME_LENGTH || CONTROL_CHARACTERS.test(name)) {
      throw fail(RangeError, 'name', `1 to ${MAX_NAME_LENGTH} characters without control characters`, name)
    }
  }
  finiteNumber('ttl', ttl, 0, MAX_TTL_MS, 'a number of milliseconds from 0 (no expiry) to 2147483647')
  if (onExpire !== undefined && typeof onExpire !== 'function') throw fail(TypeError, 'onExpire', 'a function', onExpire)
  if (typeof callSites !== 'string') throw fail(TypeError, 'callSites', `one of '${MODES.join("', '")}'`, callSites)
  if (!MODES.includes(callSites)) throw fail(RangeError, 'callSites', `one of '${MODES.join("', '")}'`, callSites)
  integer('sampleRate', sampleRate, 1, 2 ** 20, 'an integer from 1 to 1048576')
  integer('stackDepth', stackDepth, 1, 64, 'an integer from 1 to 64')
  if (maxSize !== Infinity) integer('maxSize', maxSize, 0, 2 ** 28, 'Infinity or an integer from 0 to 268435456')
  if (clock !== undefined && typeof clock !== 'function') throw fail(TypeError, 'clock', 'a function returning milliseconds', clock)
  if (typeof strict !== 'boolean') throw fail(TypeError, 'strict', 'a boolean', strict)
  captureShare(captureBudget)
  if (typeof random !== 'function') throw fail(TypeError, 'random', 'a function returning numbers in [0, 1)', random)
  // How often the op log is drained: the lag of figures read from another
  // thread, and the TTL's resolution.
  const defaultFlush = ttl > 0 ? Math.min(1000, Math.max(10, Math.ceil(ttl / 8))) : 1000
  const flushInterval = options.flushInterval === undefined
    ? defaultFlush
    : integer('flushInterval', options.flushInterval, 1, 60_000, 'an integer number of milliseconds from 1 to 60000')

  return {
    name: name === undefined ? `HandleMap#${++unnamed}` : name,
    ttl: Math.ceil(ttl),
    onExpire,
    callSites,
    sampleRate: callSites === 'all' || callSites === 'auto' ? 1 : sampleRate,
    stackDepth,
    maxSize,
    flushInterval,
    clock,
    strict,
    captureBudget,
    random
  }
}

// A share of the thread's time: above 0 (0 would be 'off') and at most all of it.
function captureShare (value) {
  const expected = 'a number above 0 and at most 1 (a share of the thread\'s time)'
  if (typeof value !== 'number') throw fail(TypeError, 'captureBudget', expected, value)
  if (!(value > 0 && value <= 1)) throw fail(RangeError, 'captureBudget', expected, value)
}

module.exports = { normalize }
