'use strict'
// The leak zoo (__test__/support/zoo/): real services over loopback HTTP,
// each with a HandleMap at the library's defaults, each in a process of its
// own, two at a time. Every leak must be flagged at the line a developer
// fixes (marked `// zoo:fix` in its source) and still be flagged when the run
// ends; no report may name any other line as suspect, on a leak or on a clean
// control, at any poll. Times are the benchmark's (npm run bench:zoo), never
// asserted here.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { SHAPES, shapeOf, runShape } = require('./support/zoo/index.js')
const { fixLineOf, suspectRows, namedLine } = require('./support/zoo/verdict.js')

function shown (result) {
  const { text, ...figures } = result
  return `${JSON.stringify(figures, null, 1)}\n${text}`
}

describe('the leak zoo at the library\'s defaults', { concurrency: 2 }, () => {
  for (const name of SHAPES) {
    const shape = shapeOf(name)
    test(`${shape.kind}: ${shape.what} (${name})`, async () => {
      const result = await runShape(name, shape.seconds.test)
      assert.ok(result.load.answered > 0, `the load reached the service\n${shown(result)}`)
      if (shape.kind === 'leak') {
        assert.ok(result.verdict, `flagged at ${result.fixLine} when the run ended\n${shown(result)}`)
        assert.equal(result.verdict.line, result.fixLine)
      }
      assert.deepEqual(result.falseSuspects.map(suspect => `${suspect.line} (${suspect.reason})`), [], `no other line named as suspect\n${shown(result)}`)
    })
  }
})

test('the zoo: each leak marks one line to fix, each control none', () => {
  for (const name of SHAPES) {
    const line = fixLineOf(path.join(__dirname, 'support', 'zoo', 'shapes', `${name}.js`))
    if (shapeOf(name).kind === 'leak') assert.match(line ?? '', new RegExp(`^${name}\\.js:\\d+$`), name)
    else assert.equal(line, null, name)
  }
})

test('the zoo reads a suspect caller row\'s label when the report has one, else what the text report shows', () => {
  const caller = (stack, extra = {}) => ({ stack, suspect: true, reason: 'r', appFrame: stack[0], inDependency: false, ...extra })
  const site = (callers, extra = {}) => ({ site: callers[0].stack[0], suspect: true, reason: 's', callers, otherCallers: null, appFrame: callers[0].stack[0], inDependency: false, ...extra })
  const helper = 'begin (/srv/app/helper.js:10:5)'
  const two = site([caller([helper, 'a (/srv/app/routes.js:20:3)']), caller([helper, 'b (/srv/app/routes.js:30:3)'], { suspect: false })])
  assert.deepEqual(suspectRows({ maps: [{ name: 'm', sites: [two] }] }).map(row => row.line), ['routes.js:20'])
  const labelled = site([caller([helper, 'new Promise (<anonymous>)'], { label: 'c (/srv/app/routes.js:40:9)' }), caller([helper, 'x (/srv/app/routes.js:50:1)'], { suspect: false })])
  assert.deepEqual(suspectRows({ maps: [{ name: 'm', sites: [labelled] }] }).map(row => row.line), ['routes.js:40'])
  const one = site([caller([helper, 'a (/srv/app/routes.js:20:3)'])])
  assert.deepEqual(suspectRows({ maps: [{ name: 'm', sites: [one] }] }).map(row => row.line), ['helper.js:10'])
  const library = 'x (/srv/app/node_modules/lib/client.js:5:1)'
  const dependency = site([caller([library, 'r (/srv/app/routes.js:60:2)'])], { inDependency: true, appFrame: 'r (/srv/app/routes.js:60:2)' })
  assert.equal(namedLine(dependency, null), 'r (/srv/app/routes.js:60:2)')
  const quiet = site([caller([helper, 'a (/srv/app/routes.js:20:3)'], { suspect: false })], { suspect: false })
  assert.deepEqual(suspectRows({ maps: [{ name: 'm', sites: [quiet] }] }), [])
})
