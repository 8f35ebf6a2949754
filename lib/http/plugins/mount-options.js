'use strict'
// The options every framework mount takes: `path` (where the route answers,
// default /debug/handles) and debugHandles()'s own options.

const DEFAULT_PATH = '/debug/handles'

function splitMountOptions (options, who) {
  if (options === undefined) options = {}
  if (options === null || typeof options !== 'object') throw new TypeError(`${who} options must be an object`)
  const { path = DEFAULT_PATH, ...handlerOptions } = options
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw new TypeError(`${who} option 'path' must be a URL path starting with '/' (no query), got ${JSON.stringify(String(path))}`)
  }
  return { path, handlerOptions }
}

/** The path of a request URL (the part before '?'). */
function pathOf (url) {
  const at = url.indexOf('?')
  return at === -1 ? url : url.slice(0, at)
}

module.exports = { splitMountOptions, pathOf, DEFAULT_PATH }
