'use strict'
// The layers of lib/ as a rule the build checks: no import cycle, and each
// layer requires only the layers below it.
//
//   lib/shared   leaf modules (errors, the text renderer, verdicts in words, report options):
//                nothing of lib/ outside lib/shared
//   lib/map      the map and what it needs: lib/shared only
//   lib/report   the registry, snapshots, assertions: lib/map and lib/shared
//   lib/http     the route, its formats, exporters, mounts: any layer
//
// Every relative require in a file counts, wherever it sits (a require inside
// a function is still a dependency: a lazy one only hides a cycle).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const LIB = path.join(ROOT, 'lib')
const LAYERS = ['shared', 'map', 'report', 'http']
// Which layers each layer may require (its own included).
const MAY_REQUIRE = {
  shared: ['shared'],
  map: ['shared', 'map'],
  report: ['shared', 'map', 'report'],
  http: ['shared', 'map', 'report', 'http']
}

function jsFiles (dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return jsFiles(full)
    return entry.name.endsWith('.js') ? [full] : []
  })
}

/** The files of lib/ (and binding.js) that `file` requires by a relative path, anywhere in its text. */
function relativeRequires (file) {
  const text = fs.readFileSync(file, 'utf8')
  const found = []
  for (const match of text.matchAll(/require\(\s*(['"])(\.\.?\/[^'"]+)\1\s*\)/g)) {
    found.push(require.resolve(path.resolve(path.dirname(file), match[2])))
  }
  return found
}

function graphOf (files) {
  const graph = new Map()
  for (const file of files) graph.set(file, relativeRequires(file).filter(target => target.startsWith(LIB + path.sep)))
  return graph
}

/** Every cycle found by a depth-first walk, each as the chain of files that closes it. */
function cycles (graph) {
  const found = []
  const state = new Map() // file -> 'open' while on the stack, 'done' after
  const stack = []
  function visit (file) {
    state.set(file, 'open')
    stack.push(file)
    for (const next of graph.get(file) || []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next])
      else if (!state.has(next)) visit(next)
    }
    stack.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (!state.has(file)) visit(file)
  return found
}

const short = file => path.relative(ROOT, file)
const layerOf = file => {
  const [top] = path.relative(LIB, file).split(path.sep)
  return LAYERS.includes(top) ? top : null
}

const graph = graphOf(jsFiles(LIB))

test('the graph walk finds the requires of a file, lazy ones included', () => {
  const handleMap = graph.get(path.join(LIB, 'map', 'handle-map.js'))
  assert.ok(handleMap.includes(path.join(LIB, 'map', 'callsite.js')), handleMap.map(short).join(', '))
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'module-graph-'))
  fs.writeFileSync(path.join(dir, 'a.js'), "const b = require('./b.js')\n")
  fs.writeFileSync(path.join(dir, 'b.js'), "function later () { return require('./a.js') }\n")
  const files = [path.join(dir, 'a.js'), path.join(dir, 'b.js')]
  const small = new Map(files.map(file => [file, relativeRequires(file)]))
  assert.deepEqual(cycles(small).map(cycle => cycle.map(file => path.basename(file))), [['a.js', 'b.js', 'a.js']])
  fs.rmSync(dir, { recursive: true })
})

test('lib/ has no import cycle', () => {
  const found = cycles(graph)
  assert.deepEqual(found.map(cycle => cycle.map(short).join(' -> ')), [])
})

test('every module of lib/ sits in a layer folder (binding.js\'s loader aside)', () => {
  const outside = [...graph.keys()].filter(file => layerOf(file) === null).map(short)
  assert.deepEqual(outside, ['lib/native-loader.js'])
})

test('each layer requires only the layers below it: no lib/map file requires lib/report or lib/http', () => {
  const wrong = []
  for (const [file, targets] of graph) {
    const from = layerOf(file)
    if (from === null) continue
    for (const target of targets) {
      const to = layerOf(target)
      if (to !== null && !MAY_REQUIRE[from].includes(to)) wrong.push(`${short(file)} (${from}) requires ${short(target)} (${to})`)
    }
  }
  assert.deepEqual(wrong, [])
})

test('lib/shared is a leaf: its modules require nothing of the package but each other', () => {
  const shared = path.join(LIB, 'shared') + path.sep
  for (const file of jsFiles(path.join(LIB, 'shared'))) {
    const outside = relativeRequires(file).filter(target => !target.startsWith(shared))
    assert.deepEqual(outside.map(short), [], `${short(file)} requires`)
  }
})

test('bin/ is a top layer: no cycle through it, and nothing in lib/ requires it', () => {
  const BIN = path.join(ROOT, 'bin')
  const binFiles = jsFiles(BIN)
  assert.ok(binFiles.length > 0)
  const withBin = new Map(graph)
  for (const file of binFiles) withBin.set(file, relativeRequires(file).filter(target => target.startsWith(LIB + path.sep) || target.startsWith(BIN + path.sep)))
  assert.ok(withBin.get(path.join(BIN, 'handle-ledger.js')).some(target => target.startsWith(LIB + path.sep)), 'the CLI reads lib/')
  assert.deepEqual(cycles(withBin).map(cycle => cycle.map(short).join(' -> ')), [])
  const intoBin = [...graph].filter(([, targets]) => targets.some(target => target.startsWith(BIN + path.sep))).map(([file]) => short(file))
  assert.deepEqual(intoBin, [])
})
