'use strict'
// The leak zoo: real services over loopback HTTP, each losing a cleanup in
// one of the ways real code does (the leaks) or tempting a false alarm while
// cleaning up correctly (the controls). Each runs in a child process of its
// own (child.js), at most `parallel` at a time.

const { spawn } = require('node:child_process')
const path = require('node:path')

// In table order: the leaks, then the controls.
const SHAPES = [
  'every-call',
  'shared-helper-route',
  'error-path',
  'timeout-path',
  'promise-executor',
  'library-map',
  'hold-never-settles',
  'acquire-never-released',
  'heavy-tail',
  'long-poll',
  'sessions',
  'ramp',
  'retries',
  'bursts'
]

function shapeOf (name) {
  return require(path.join(__dirname, 'shapes', `${name}.js`))
}

// The library's defaults: no environment override of the call-site mode or strictness.
function defaultsEnv () {
  const env = { ...process.env }
  for (const name of Object.keys(env)) if (name.startsWith('HANDLE_LEDGER_')) delete env[name]
  delete env.NODE_ENV
  return env
}

/** Runs one shape for `seconds` of load in a child process; resolves with its result (see child.js). */
function runShape (name, seconds) {
  const child = spawn(process.execPath, [path.join(__dirname, 'child.js'), name, String(seconds)], {
    env: defaultsEnv(),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const limit = setTimeout(() => child.kill(), (seconds + 90) * 1000)
  return new Promise((resolve, reject) => {
    let result = null
    child.once('message', message => { result = message })
    child.once('exit', code => {
      clearTimeout(limit)
      if (result) resolve(result)
      else reject(new Error(`zoo shape ${name} exited with ${code} before reporting`))
    })
  })
}

/**
 * Runs `names`, at most `parallel` at a time, each for secondsOf(shape)
 * seconds; onResult(result) as each ends. Resolves with the results in order.
 */
async function runZoo (names, { parallel = 2, secondsOf, onResult = () => {} }) {
  const results = new Array(names.length)
  let next = 0
  async function worker () {
    while (next < names.length) {
      const at = next++
      results[at] = await runShape(names[at], secondsOf(shapeOf(names[at])))
      onResult(results[at])
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  return results
}

module.exports = { SHAPES, shapeOf, runShape, runZoo }
