// Types of handle-ledger/http: the /debug/handles route and its framework mounts.

import type { IncomingMessage, ServerResponse } from 'node:http'

export interface DebugHandlesOptions {
  /** The path answered when the handler is mounted without one (default '/debug/handles'); other paths go on to next(), or get a 404. */
  path?: string
  /** Replaces the default rule (a loopback peer, no forwarding headers, a loopback Host); only `true` lets a request in. */
  allow?: (req: IncomingMessage) => boolean | Promise<boolean>
  /** Default sites per map (`?limit` overrides, 1..1000). */
  limit?: number
  /** Bound on a response body, bytes (default 2 MiB). */
  maxBytes?: number
  /** Site series per map in the Prometheus format (default 10, at most 100). */
  sitesPerMap?: number
  /** Include the n oldest live entries of this thread's maps. */
  oldest?: number
  /** Show those entries' keys (values are never shown). */
  includeKeys?: boolean
  /** `?seconds=N` requests waiting at once (1..1000, default 4); one more gets 429 with Retry-After. */
  maxDeltas?: number
  /** Called once per distinct error message that produced a 500. */
  onError?: (error: unknown) => void
}

export interface DebugHandlesHandler {
  /** node:http, Express 4/5 and connect. */
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): Promise<void>
  /** Koa (`app.use(handler)` or a @koa/router route) and Fastify routes (request, reply). */
  (ctx: any, next?: any): Promise<unknown>
}

export declare const debugHandles: {
  (options?: DebugHandlesOptions): DebugHandlesHandler
  /** The default guard (loopback peer, no forwarding headers, loopback Host), for an `allow` rule that extends it. */
  loopbackOnly(req: IncomingMessage): boolean
}

/** debugHandles options, `path` included. */
export type MountOptions = DebugHandlesOptions

/** Fastify plugin: `fastify.register(handleLedgerFastify, { path, prefix, ...debugHandles options })`. Encapsulated. */
export declare function handleLedgerFastify(fastify: any, options?: MountOptions): Promise<void>

/** Koa middleware: `app.use(handleLedgerKoa(options))`; other paths go on to `next()`. */
export declare function handleLedgerKoa(options?: MountOptions): (ctx: any, next: () => Promise<unknown>) => Promise<unknown>

/** Express (4 and 5) / connect router: `app.use(handleLedgerExpress(options))`; other paths go on to `next()`. */
export declare function handleLedgerExpress(options?: MountOptions): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void
