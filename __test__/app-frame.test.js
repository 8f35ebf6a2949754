'use strict'
// The app's own line when the insert site lies in a dependency: onExpire's
// entry, HandleLeakWarning's message and leakCheck's message name it, as
// "dependency line (in a dependency, from app line)". And caller labels: the
// frame where a caller's stack parts from its siblings'.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const vm = require('node:vm')
const { once } = require('node:events')
const { HandleMap, leakCheck, HandleLeakError } = require('..')
const { appFrameOf, callerLabel, callerLabels } = require('../lib/map/app-frame.js')
const { insertedAt } = require('../lib/shared/format.js')

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
    assert.ok(warning.message.includes(`inserted at ${entry.site} (in a dependency, from ${entry.appFrame}) expired after`), warning.message)
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
      assert.match(error.message, /app-frame\.leakcheck: \+\d+ live at track \(.*socket\.js:1:\d+\) \(in a dependency, from openSocket \(.*app-frame\.test\.js:\d+:\d+\)\)/)
      return true
    })
  } finally {
    map.close()
  }
})

test('appFrameOf and insertedAt: defaults, built-ins and node internals are not the app', () => {
  const stack = ['x (/srv/node_modules/lib/a.js:1:2)', 'new Promise (<anonymous>)', 'y (node:internal/timers:5:1)', 'z (/srv/app.js:21:3)']
  assert.deepEqual(appFrameOf(stack), { appFrame: 'z (/srv/app.js:21:3)', inDependency: true })
  assert.deepEqual(appFrameOf(['z (/srv/app.js:21:3)']), { appFrame: 'z (/srv/app.js:21:3)', inDependency: false })
  assert.deepEqual(appFrameOf([]), { appFrame: null, inDependency: false })
  assert.equal(insertedAt(stack[0], { label: 'z (/srv/app.js:21:3)', inDependency: true }), 'x (/srv/node_modules/lib/a.js:1:2) (in a dependency, from z (/srv/app.js:21:3))')
  assert.equal(insertedAt('z (/srv/app.js:21:3)', { label: 'z (/srv/app.js:21:3)', inDependency: false }), 'z (/srv/app.js:21:3)')
  assert.equal(insertedAt(null), '(site not recorded)')
  assert.equal(insertedAt(stack[0], { inDependency: true, callers: 2 }), 'x (/srv/node_modules/lib/a.js:1:2) (in a dependency, reached from 2 app callers)')
  assert.equal(insertedAt('s (/srv/a.js:1:1)', { label: 'getOrder (/srv/o.js:4:29)' }), 's (/srv/a.js:1:1) from getOrder (/srv/o.js:4:29)')
})

test('callerLabel: the first app frame where a stack parts from its siblings; callerLabels tells alike callers apart', () => {
  const site = '<anonymous> (/srv/rpc.js:3:15)'
  const through = (...below) => [site, 'new Promise (<anonymous>)', 'call (/srv/rpc.js:2:10)', ...below]
  const order = through('getOrder (/srv/routes/orders.js:4:29)', 'handle (/srv/node_modules/express/lib/router/layer.js:95:5)')
  const user = through('getUser (/srv/routes/users.js:7:9)', 'handle (/srv/node_modules/express/lib/router/layer.js:95:5)')
  assert.equal(callerLabel(order, [order, user]), 'getOrder (/srv/routes/orders.js:4:29)')
  assert.equal(callerLabel(user, [order, user]), 'getUser (/srv/routes/users.js:7:9)')
  // Alone, a stack is named by its first app frame below the site (not new Promise).
  assert.equal(callerLabel(order, []), 'call (/srv/rpc.js:2:10)')
  // Parting in built-ins, async wrappers and dependencies: the next app frame.
  const viaMap = through('Array.map (<anonymous>)', 'async Promise.all (index 0)', 'handle (/srv/node_modules/x/y.js:1:1)', 'batch (/srv/batch.js:9:3)')
  assert.equal(callerLabel(viaMap, [order, viaMap]), 'batch (/srv/batch.js:9:3)')
  // One function reached from two routes: alone it reads as the function;
  // among the site's callers, with the route where the two part.
  const fromA = through('getOrder (/srv/routes/orders.js:4:29)', 'routeA (/srv/app.js:10:1)')
  const fromB = through('getOrder (/srv/routes/orders.js:4:29)', 'routeB (/srv/app.js:20:1)')
  assert.equal(callerLabel(fromA, [fromA, fromB, user]), 'getOrder (/srv/routes/orders.js:4:29)')
  assert.deepEqual(callerLabels([fromA, fromB, user]), [
    'getOrder (/srv/routes/orders.js:4:29) via routeA (/srv/app.js:10:1)',
    'getOrder (/srv/routes/orders.js:4:29) via routeB (/srv/app.js:20:1)',
    'getUser (/srv/routes/users.js:7:9)'
  ])
  // Stacks that part only in non-app frames: the parting frame itself.
  const timer = [site, 'tick (node:internal/timers:5:1)']
  const socket = [site, 'onData (node:net:7:1)']
  assert.equal(callerLabel(timer, [timer, socket]), 'tick (node:internal/timers:5:1)')
  // The same caller reached through other internals reads the same.
  const later = through('getOrder (/srv/routes/orders.js:4:29)', 'processTicksAndRejections (node:internal/process/task_queues:95:5)')
  assert.equal(callerLabel(order, [order, later, user]), 'getOrder (/srv/routes/orders.js:4:29)')
  assert.equal(callerLabel(order, [order, later]), 'getOrder (/srv/routes/orders.js:4:29)')
  assert.equal(callerLabel([], []), null)
})
