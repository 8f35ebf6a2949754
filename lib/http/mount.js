'use strict'
// How a framework called a handle-ledger handler, and whether the request is
// the handler's own. node:http and Express/connect call (req, res[, next]),
// Koa (ctx, next), a Fastify route (request, reply) and a Fastify hook
// (request, reply, done). A handler mounted without a path (`app.use(h)`,
// `http.createServer(h)`) answers its own path and passes every other request
// on: to next() where there is one, a 404 otherwise. One the framework routed
// to by path (`app.get(path, h)`, `app.use(path, h)` in Express, a
// @koa/router route, a Fastify route) answers what it is given.
//
// The factories use the same shapes to tell a mistake at mount time:
// `app.use(debugHandles)` (not called) has the framework call the factory
// with a request, which must not become an error on every route.

const DEFAULT_PATH = '/debug/handles'

function isObject (value) {
  return value !== null && typeof value === 'object'
}

/** node's IncomingMessage (or an http2 compat request, or anything shaped as one). */
function isRequest (value) {
  return isObject(value) && typeof value.method === 'string' && typeof value.url === 'string' && isObject(value.headers)
}

function isResponse (value) {
  return isObject(value) && typeof value.setHeader === 'function' && typeof value.end === 'function'
}

// Koa's context also has method, url and headers (delegated): tell it first.
function isKoaContext (value) {
  return isObject(value) && isRequest(value.req) && isResponse(value.res) && isObject(value.request) && isObject(value.response)
}

function isFastifyCall (request, reply) {
  return isObject(request) && isRequest(request.raw) && isObject(reply) && typeof reply.hijack === 'function' && isResponse(reply.raw)
}

/** The path of a request URL (the part before '?'). */
function pathOf (url) {
  const at = url.indexOf('?')
  return at === -1 ? url : url.slice(0, at)
}

/**
 * What a framework's call to a handler is: `{ req, res, path, routed,
 * take(), passOn() }`, or null when the arguments are no framework's call.
 * `take()` tells the framework the response is the handler's; `passOn()`
 * hands the request to the next handler (undefined when there is none).
 */
function frameworkCall (first, second, third) {
  if (isKoaContext(first)) {
    return {
      req: first.req,
      res: first.res,
      path: first.path,
      // @koa/router marks the context of a route it matched.
      routed: first._matchedRoute !== undefined,
      take () { first.respond = false },
      passOn: typeof second === 'function' ? () => second() : undefined
    }
  }
  if (isFastifyCall(first, second)) {
    // A route handler gets (request, reply); a hook also gets done.
    const hook = typeof third === 'function'
    return {
      req: first.raw,
      res: second.raw,
      path: pathOf(first.raw.url),
      routed: !hook,
      take () { second.hijack() },
      passOn: hook ? () => { third() } : undefined
    }
  }
  if (isRequest(first) && isResponse(second)) {
    return {
      req: first,
      res: second,
      path: pathOf(first.url),
      routed: expressRouted(first),
      take () {},
      passOn: typeof third === 'function' ? () => third() : undefined
    }
  }
  return null
}

// Express sets req.route in a route's handlers (app.get(path, h)); under
// app.use(path, h), req.baseUrl is the mount path and req.url what follows
// it, '/' for the mount path itself.
function expressRouted (req) {
  if (req.route !== undefined) return true
  return typeof req.baseUrl === 'string' && req.baseUrl !== '' && pathOf(req.url) === '/'
}

/**
 * A handler for any framework's call: `respond(req, res)` answers requests
 * for `path` (or routed to it), the rest go on (`notFound(res)` when nothing
 * comes next). Fastify hooks get undefined back, as fastify wants of a hook
 * that takes `done`; every other call gets a promise.
 */
function ownPathHandler (respond, path, notFound) {
  return function handleDebugHandles (first, second, third) {
    const call = frameworkCall(first, second, third)
    if (call === null) return respond(first, second)
    const fastifyHook = isFastifyCall(first, second) && typeof third === 'function'
    let answered
    if (call.routed || call.path === path) {
      call.take()
      answered = respond(call.req, call.res)
    } else if (call.passOn !== undefined) {
      answered = call.passOn()
    } else {
      answered = notFound(call.res)
    }
    return fastifyHook ? undefined : Promise.resolve(answered)
  }
}

/**
 * Throws a clear error when a factory is given a request or a Koa context as
 * its options, without the rest of a framework's call (which the factories
 * answer as their default mount instead).
 */
function refuseRequestAsOptions (options, who) {
  if (isRequest(options) || isKoaContext(options) || (isObject(options) && isRequest(options.raw))) {
    throw new TypeError(`${who}(options) was given a request as its options: mount what ${who}() returns (app.use(${who}())), not ${who} itself`)
  }
}

function checkPath (path, who) {
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw new TypeError(`${who} option 'path' must be a URL path starting with '/' (no query), got ${JSON.stringify(String(path))}`)
  }
  return path
}

module.exports = { DEFAULT_PATH, frameworkCall, ownPathHandler, refuseRequestAsOptions, checkPath, pathOf }
