// Type definitions for handle-ledger (hand-written; the napi-generated
// binding.d.ts describes the internal native module only).

import type { IncomingMessage, ServerResponse } from 'node:http'

export type CallSitesMode = 'all' | 'sampled' | 'off'

export interface ExpiredEntry<K, V> {
  key: K
  value: V
  /** How long the entry was in the map, ms. */
  ageMs: number
  /** `fn (file:line:col)` of the insert, or null when it was not recorded. */
  site: string | null
  /** The insert site's stack, innermost frame first. */
  stack: string[]
  /** The first frame of the stack outside handle-ledger, node_modules and node internals. */
  appFrame: string | null
  /** True when the insert site (the top frame) is not the app's own code. */
  inDependency: boolean
}

export interface HandleMapOptions<K, V> {
  /** Shown in reports. Default `HandleMap#<n>`. 1-200 characters, no control characters. */
  name?: string
  /** ms, 0 (default) = no expiry, at most 2147483647. */
  ttl?: number
  /** Receives each expired entry; if it throws, a warning is emitted and expiry goes on. */
  onExpire?: (entry: ExpiredEntry<K, V>) => void
  /** Default 'all', or 'sampled' when NODE_ENV=production; HANDLE_LEDGER_CALLSITES overrides the default. */
  callSites?: CallSitesMode
  /** One in `sampleRate` inserts records its site in 'sampled' mode. Default 64. */
  sampleRate?: number
  /** Frames kept per recorded stack. Default 8. */
  stackDepth?: number
  /** Inserting a new key beyond it throws RangeError. Default Infinity. */
  maxSize?: number
  /** How often the operation log is drained (ms): TTL resolution and cross-thread lag. Default ttl/8 clamped to 10..1000, or 1000 without ttl. */
  flushInterval?: number
  /** A clock in ms for tests (default Date.now). Operations are then stamped exactly. */
  clock?: () => number
  /** Expired entries emit a HandleLeakWarning, once per site per minute. Default on unless NODE_ENV=production; HANDLE_LEDGER_STRICT=0|1 overrides. */
  strict?: boolean
}

export interface EntryInfo {
  insertedAt: number
  ageMs: number
  /** null when the map has no TTL. */
  expiresInMs: number | null
  site: string | null
  stack: string[]
}

export interface ReportOptions {
  /** Only the map with this name (registry.report). */
  map?: string
  /** Sites per map, default 20. */
  limit?: number
  /** Include the n oldest live entries of each map owned by this thread. */
  oldest?: number
  /** Show those entries' keys (as text). Values are never in a report. */
  includeKeys?: boolean
  /** Caller rows per site, default 16; the rest are summed in `otherCallers`. */
  callers?: number
  /** Live entries older than this many times the site's p99 lifetime are outliers (default 10)... */
  outlierFactor?: number
  /** ...and older than this (ms, default 10000) and than any lifetime seen. */
  outlierFloorMs?: number
  /** A site that removes and lets at least this share of its entries expire is suspect (default 0.01). */
  expiryShare?: number
}

/** Ages at removal, ms; p50 and p99 at most 25% above the true value. */
export interface LifetimeReport {
  count: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/** One distinct stack through a site. */
export interface CallerReport {
  stackId: number
  stack: readonly string[]
  live: number
  inserts: number
  removes: number
  expired: number
  oldestAgeMs: number | null
  lifetime: LifetimeReport | null
  suspect: boolean
  reason: string | null
  appFrame: string | null
  inDependency: boolean
}

export interface OtherCallers {
  callers: number
  live: number
  inserts: number
  removes: number
  expired: number
  suspect: boolean
}

export interface RemoveSiteReport {
  site: string
  count: number
  /** True when remove sites were sampled and the count is a share of the removes. */
  estimated: boolean
}

/** The figures a map report and a site report both carry. */
export interface LedgerCounts {
  live: number
  inserts: number
  removes: number
  expired: number
  overwrites: number
  oldestAgeMs: number | null
}

export interface SiteReport extends LedgerCounts {
  site: string
  /** The first caller's stack (the suspect one when there is one). */
  stackId: number
  stack: readonly string[]
  removedAt: RemoveSiteReport[]
  /** Never removed, a caller never removing, outliers or expiry share (docs/partial-leaks.md). */
  suspect: boolean
  reason: string | null
  /** Weighted estimates from sampled inserts ('sampled' mode). */
  estimated: boolean
  lifetime: LifetimeReport | null
  callers: CallerReport[]
  otherCallers: OtherCallers | null
  appFrame: string | null
  inDependency: boolean
}

export interface OldestEntry {
  ageMs: number
  site: string | null
  key?: string
}

export interface MapReport extends LedgerCounts {
  id: number
  name: string
  threadId: number
  ttlMs: number
  callSites: CallSitesMode
  sampleRate: number
  estimated: boolean
  flushIntervalMs: number
  at: number
  sites: SiteReport[]
  sitesOmitted: number
  oldestEntries?: OldestEntry[]
}

export interface RegistryReport {
  kind: 'report'
  schemaVersion: 2
  pid: number
  at: number
  maps: MapReport[]
}

export interface Snapshot {
  kind: 'snapshot'
  schemaVersion: 2
  pid: number
  at: number
  maps: MapReport[]
  diff(older: Snapshot): Diff
}

export interface SiteDiff {
  site: string
  stack: string[]
  live: number
  liveDelta: number
  insertsDelta: number
  removesDelta: number
  expiredDelta: number
  suspect: boolean
  reason: string | null
}

export interface MapDiff {
  id: number
  name: string
  threadId: number
  live: number
  liveDelta: number
  insertsDelta: number
  removesDelta: number
  expiredDelta: number
  estimated: boolean
  closed?: boolean
  sites: SiteDiff[]
}

export interface Diff {
  kind: 'diff'
  from: number
  to: number
  durationMs: number
  maps: MapDiff[]
}

export declare class HandleMap<K = any, V = any> implements Map<K, V> {
  constructor(options?: HandleMapOptions<K, V>)
  constructor(entries?: Iterable<readonly [K, V]> | null, options?: HandleMapOptions<K, V>)
  readonly size: number
  readonly name: string
  get(key: K): V | undefined
  has(key: K): boolean
  set(key: K, value: V): this
  delete(key: K): boolean
  clear(): void
  forEach(callback: (value: V, key: K, map: this) => void, thisArg?: any): void
  keys(): MapIterator<K>
  values(): MapIterator<V>
  entries(): MapIterator<[K, V]>
  [Symbol.iterator](): MapIterator<[K, V]>
  readonly [Symbol.toStringTag]: string
  /** Restarts the entry's TTL; false when the key is absent. */
  touch(key: K): boolean
  info(key: K): EntryInfo | undefined
  report(options?: Omit<ReportOptions, 'map'>): MapReport
  /** Throws HandleLeakError when the map holds entries. */
  assertEmpty(message?: string): void
  /** Expires what is due now; returns how many expired. */
  purgeExpired(): number
  /** Stops the timer and leaves the registry; the map still works as a Map. */
  close(): void
}

export declare const registry: {
  report(options?: ReportOptions): RegistryReport
  snapshot(options?: Pick<ReportOptions, 'map'>): Snapshot
  diff(older: Snapshot, newer: Snapshot): Diff
}

export declare function formatReport(report: RegistryReport | MapReport | MapReport[] | Diff | Snapshot): string

export declare class HandleLeakError extends Error {
  name: 'HandleLeakError'
  report: MapReport | Diff
}

export interface LeakCheckOptions {
  iterations?: number
  /** Only these maps (names or HandleMaps); default all. */
  maps?: Array<string | HandleMap>
  /** How long growth may take to come back, ms (default 100). */
  settleMs?: number
  /** Checks within settleMs (default 5). */
  retries?: number
}

export declare function leakCheck(fn: (iteration: number) => unknown, options?: LeakCheckOptions): Promise<Diff>

export interface DebugHandlesOptions {
  /** Replaces the default rule (loopback clients without forwarding headers); only `true` lets a request in. */
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
  /** Called once per distinct error message that produced a 500. */
  onError?: (error: unknown) => void
}

export type DebugHandlesHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => Promise<void>

export declare const debugHandles: {
  (options?: DebugHandlesOptions): DebugHandlesHandler
  /** The default guard, for an `allow` rule that extends it. */
  loopbackOnly(req: IncomingMessage): boolean
}

export interface RegisterMetricsOptions {
  /** A prom-client Registry (default: the client's global registry). */
  registry?: unknown
  sitesPerMap?: number
  /** Only this map name. */
  map?: string
}

/** Registers handle-ledger's gauges with a prom-client registry, for servers that already expose /metrics. */
export declare function registerMetrics(client: unknown, options?: RegisterMetricsOptions): { names: string[], unregister(): void }

/**
 * Replaces `object[property]`, an existing Map, with a HandleMap holding its
 * entries (counted in `adopted`), and returns it.
 */
export declare function instrument<K = any, V = any>(object: object, property: string | symbol, options?: HandleMapOptions<K, V>): HandleMap<K, V> & { readonly adopted: number }
/** Puts the original Map back (with the entries held now) and closes the HandleMap. */
export declare function uninstrument<K = any, V = any>(object: object, property: string | symbol): Map<K, V>
/** Which frames are the app's: a predicate on the frame text, `{ ignore }` patterns, or null for the defaults. */
export declare function setAppFrame(option: ((frame: string) => boolean) | { ignore: Array<string | RegExp> } | null): void
