'use strict'
// Test helpers: tests name their own call sites by a `// @tag` marker at the
// end of a line, never by a hard-coded line number.
const fs = require('node:fs')
const assert = require('node:assert/strict')

/** lineOf(tag): the 1-based line of `file` that ends with `// @tag`. */
function markerLines (file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  return function lineOf (tag) {
    const marker = '// @' + tag
    const hits = []
    lines.forEach((text, index) => {
      if (text.trimEnd().endsWith(marker)) hits.push(index + 1)
    })
    assert.equal(hits.length, 1, `marker ${marker} must appear exactly once`)
    return hits[0]
  }
}

function escapeRegExp (text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

module.exports = { markerLines, escapeRegExp }
