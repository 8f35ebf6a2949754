'use strict'
// BENCHMARKS.md has three writers: `npm run bench` writes the file, and
// bench:server and bench:zoo each own a marked section of it, which every
// writer keeps.

const fs = require('node:fs')
const path = require('node:path')

const FILE = path.join(__dirname, '..', 'BENCHMARKS.md')
const OWNED = ['server', 'zoo']

/** The comment lines that open and close section `name`. */
function marks (name) {
  return [`<!-- bench:${name} -->`, `<!-- /bench:${name} -->`]
}

function read () {
  return fs.existsSync(FILE) ? fs.readFileSync(FILE, 'utf8') : '# Benchmarks\n'
}

/** Section `name` as it stands in the file, marks included, or ''. */
function sectionIn (text, name) {
  const [start, end] = marks(name)
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  return from !== -1 && to > from ? text.slice(from, to + end.length) : ''
}

/** Replaces section `name` (its markdown carries the marks), or appends it. */
function writeSection (name, markdown) {
  const text = read()
  const old = sectionIn(text, name)
  fs.writeFileSync(FILE, old === '' ? text.trimEnd() + '\n\n' + markdown + '\n' : text.replace(old, () => markdown))
}

/** Writes the file anew with `markdown`, keeping the sections other benches own. */
function writeKeepingSections (markdown) {
  const text = read()
  const kept = OWNED.map(name => sectionIn(text, name)).filter(section => section !== '')
  fs.writeFileSync(FILE, [markdown.trimEnd(), ...kept].join('\n\n') + '\n')
}

module.exports = { marks, writeSection, writeKeepingSections }
