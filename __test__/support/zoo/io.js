'use strict'
// The zoo's plumbing: a service's loopback server with a small route table,
// an upstream that answers after the latency it is asked for, and a GET that
// resolves with status and body. Shapes keep their own map code (the lines a
// report should name) in their own files; nothing here touches a HandleMap.

const http = require('node:http')
const { listen } = require('../http.js')

/** A loopback server dispatching on the path (query ignored) to `routes[path](req, res)`. */
function serve (routes) {
  return listen((req, res) => {
    const route = routes[req.url.split('?')[0]]
    if (route === undefined) return reply(res, 404, 'no such route')
    let result
    try {
      result = route(req, res)
    } catch (error) {
      return reply(res, 500, error.message)
    }
    if (result && typeof result.catch === 'function') result.catch(error => reply(res, 502, error.message))
  })
}

function reply (res, status, body) {
  if (res.headersSent || res.writableEnded) return
  res.statusCode = status
  res.end(body)
}

/**
 * The upstream: /ok/<ms> answers 200 after ms, /fail/<ms> 503, /accepted/<ms>
 * 202 with no reply to deliver, /never holds the request until it is closed.
 */
function startUpstream () {
  return listen((req, res) => {
    const [, kind, ms] = req.url.split('/')
    if (kind === 'never') return
    const status = { ok: 200, fail: 503, accepted: 202 }[kind] ?? 404
    const timer = setTimeout(() => reply(res, status, kind), Number(ms) || 0)
    res.once('close', () => clearTimeout(timer))
  })
}

/** GET `url`: `{ status, body }`; with `timeout` (ms) a silent upstream is an error. */
function get (agent, url, { timeout } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', reject)
    })
    if (timeout) req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout} ms`)))
    req.on('error', reject)
  })
}

/** POST a JSON body: `{ status, body }`. */
function postJson (agent, url, payload) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(payload)
    const req = http.request(url, { agent, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(data)
  })
}

function readBody (req) {
  return new Promise((resolve, reject) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', chunk => { body += chunk })
    req.on('end', () => resolve(body))
    req.on('error', reject)
  })
}

function keepAliveAgent () {
  return new http.Agent({ keepAlive: true, maxSockets: 256 })
}

function query (req, name) {
  return new URL(req.url, 'http://x').searchParams.get(name)
}

const delay = ms => new Promise(resolve => setTimeout(resolve, ms).unref())

// A latency in ms from a lognormal distribution: `median` x e^(sigma x N(0,1)),
// capped (an upstream's own timeout). Box-Muller.
function lognormalMs (median, sigma, cap = 30_000) {
  const normal = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random())
  return Math.min(cap, Math.round(median * Math.exp(sigma * normal)))
}

module.exports = { serve, reply, startUpstream, get, postJson, readBody, keepAliveAgent, query, delay, lognormalMs }
