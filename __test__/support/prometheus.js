'use strict'
// Checking Prometheus output for real: Prometheus's own `promtool check
// metrics` (from Debian's prometheus package, unpacked into the tool cache by
// scripts/install-test-tools.sh, which `npm test` runs first) and
// parse-prometheus-text-format.
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const parsePrometheus = require('parse-prometheus-text-format')

const { listen } = require('./http.js')
const { toolCache } = require('../../scripts/tool-cache.js')

const PROMTOOL = toolCache('test-tools', 'promtool')

async function scrapeText (url) {
  const response = await fetch(url)
  assert.equal(response.status, 200)
  return response.text()
}

/** promtool must accept the exposition without a single lint problem. */
function assertPromtoolAccepts (body) {
  const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8' })
  assert.equal(result.error, undefined, `could not run ${PROMTOOL}: ${result.error}`)
  assert.equal(result.status, 0, `promtool check metrics failed:\n${result.stdout}${result.stderr}\n--- input ---\n${body}`)
  assert.equal(result.stdout + result.stderr, '')
}

/** `{ familyName: { type, help, samples: [{ labels, value }] } }` from the text format. */
function parse (body) {
  const families = {}
  for (const family of parsePrometheus(body)) {
    families[family.name] = {
      type: family.type,
      help: family.help,
      samples: family.metrics.map(metric => ({ labels: metric.labels || {}, value: Number(metric.value) }))
    }
  }
  return families
}

/** The value of the one series of `name` with exactly `labels`; undefined when there is none. */
function valueOf (families, name, labels) {
  const family = families[name]
  if (family === undefined) return undefined
  const found = family.samples.filter(sample =>
    Object.keys(labels).length === Object.keys(sample.labels).length &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === String(value)))
  assert.ok(found.length <= 1, `at most one ${name} series for ${JSON.stringify(labels)}, got ${found.length}`)
  return found.length === 0 ? undefined : found[0].value
}

module.exports = { listen, scrapeText, assertPromtoolAccepts, parse, valueOf, PROMTOOL }
