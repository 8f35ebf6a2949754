'use strict'
// The app's own line when the insert site lies in a dependency: onExpire's
// entry, HandleLeakWarning's message and leakCheck's message name it, as
// "app line (via dependency line in a dependency)".

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const vm = require('node:vm')
const { once } = require('node:events')
const { HandleMap, leakCheck, HandleLeakError } = require('..')
const { appFrameOf } = require('../lib/map/app-frame.js')
const { where } = require('../lib/shared/format.js')

// A "library" whose code lives under node_modules: its insert is its own line.
const LIBRARY_FILE = path.join(__dirname, 'node_modules', 'fake-socket', 'socket.js')
const library = vm.runInThisContext('(function track (map, key) { map.set(key, { key }) })', { filename: LIBRARY_FILE })

function openSocket (map, key) { library(map, key) } // app line

test('onExpire\'s entry and HandleLeakWarning name the app line via the dependency\'s', async () => {
  let now = 0
  const entries = []
  const map = new HandleMap({ name: 'app-frame.sockets', ttl: 100, clock: () => now, strict: true, onExpire: entry => entries.push(entry) })
  try {
    openSocket(map, 'a')
    now = 200
    const warned = once(process, 'warning')
    assert.equal(map.purgeExpired(), 1)
    const [warning] = await warned
    const [entry] = entries
    assert.ok(entry.site.includes(LIBRARY_FILE), entry.site)
    assert.equal(entry.inDependency, true)
    assert.match(entry.appFrame, /^openSocket \(.*app-frame\.test\.js:\d+:\d+\)$/)
    assert.equal(warning.name, 'HandleLeakWarning')
    assert.equal(warning.appFrame, entry.appFrame)
    assert.ok(warning.message.includes(`inserted at ${entry.appFrame} (via ${entry.site} in a dependency) expired after`), warning.message)
  } finally {
    map.close()
  }
})

test('leakCheck names the app line via the dependency\'s', async () => {
  const map = new HandleMap({ name: 'app-frame.leakcheck', callSites: 'all', strict: false })
  let n = 0
  try {
    await assert.rejects(leakCheck(() => openSocket(map, n++), { iterations: 3, retries: 0 }), error => {
      assert.ok(error instanceof HandleLeakError)
      assert.match(error.message, /app-frame\.leakcheck: \+\d+ live at openSocket \(.*app-frame\.test\.js:\d+:\d+\) \(via track \(.*socket\.js:1:\d+\) in a dependency\)/)
      return true
    })
  } finally {
    map.close()
  }
})

test('appFrameOf and where: defaults, built-ins and node internals are not the app', () => {
  const stack = ['x (/srv/node_modules/lib/a.js:1:2)', 'new Promise (<anonymous>)', 'y (node:internal/timers:5:1)', 'z (/srv/app.js:21:3)']
  assert.deepEqual(appFrameOf(stack), { appFrame: 'z (/srv/app.js:21:3)', inDependency: true })
  assert.deepEqual(appFrameOf(['z (/srv/app.js:21:3)']), { appFrame: 'z (/srv/app.js:21:3)', inDependency: false })
  assert.deepEqual(appFrameOf([]), { appFrame: null, inDependency: false })
  assert.equal(where(stack[0], 'z (/srv/app.js:21:3)', true), 'z (/srv/app.js:21:3) (via x (/srv/node_modules/lib/a.js:1:2) in a dependency)')
  assert.equal(where('z (/srv/app.js:21:3)', 'z (/srv/app.js:21:3)', false), 'z (/srv/app.js:21:3)')
  assert.equal(where(null, null, false), '(site not recorded)')
})
