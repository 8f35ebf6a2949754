// Type definitions for handle-ledger (hand-written; the napi-generated
// binding.d.ts describes the internal native module only).


declare global {
  // TypeScript 5.6 added MapIterator, the type Map's keys()/values()/entries()
  // return; HandleMap must return the same to stay assignable to Map. For older
  // TypeScript this declares it with the same shape; from 5.6 on it merges into
  // the built-in one and adds nothing.
  interface MapIterator<T> {
    next(...args: [] | [unknown]): IteratorResult<T, any>
    [Symbol.iterator](): MapIterator<T>
  }
}

export type CallSitesMode = 'auto' | 'all' | 'sampled' | 'off'

export interface ExpiredEntry<K, V> {
  key: K
  value: V
  /** How long the entry was in the map, ms. */
  ageMs: number
  /** `fn (file:line:col)` of the insert, or null when it was not recorded. */
  site: string | null
  /** The insert site's stack, innermost frame first. */
  stack: string[]
  /** Inserted by hold(): a call that outlived the TTL, not a lost cleanup (no strict-mode warning). */
  held: boolean
  /** The first frame of the stack outside handle-ledger, node_modules and node internals. */
  appFrame: string | null
  /** True when the insert site (the top frame) is not the app's own code. */
  inDependency: boolean
  /** The caller's frame that tells it apart from the site's other callers (null when the site names it). */
  label: string | null
}

export interface HandleMapOptions<K, V> {
  /** Shown in reports. Default `HandleMap#<n>`. 1-200 characters, no control characters. */
  name?: string
  /** ms, 0 (default) = no expiry, at most 2147483647. */
  ttl?: number
  /** Receives each expired entry; if it throws, a warning is emitted and expiry goes on. */
  onExpire?: (entry: ExpiredEntry<K, V>) => void
  /**
   * Default 'auto' (NODE_ENV does not change it; HANDLE_LEDGER_CALLSITES overrides the default).
   * 'auto' records every insert while capturing stays within `captureBudget`, then samples at
   * random gaps sized to the budget (site figures then marked `estimated`). 'all' records every
   * insert whatever it costs; 'sampled' one in `sampleRate`; 'off' counts only. See docs/diagnosis.md.
   */
  callSites?: CallSitesMode
  /** 'auto': the most of this map's thread's time spent capturing call sites, in (0, 1]. Default 0.01. */
  captureBudget?: number
  /** One in `sampleRate` inserts records its site in 'sampled' mode. Default 64. */
  sampleRate?: number
  /** The sampler's random source, uniform in [0, 1) (default Math.random): a seeded one replays a sampling run. */
  random?: () => number
  /** Frames kept per recorded stack. Default 8. */
  stackDepth?: number
  /** Inserting a new key beyond it throws RangeError. Default Infinity. */
  maxSize?: number
  /** How often the operation log is drained (ms): TTL resolution and cross-thread lag. Default ttl/8 clamped to 10..1000, or 1000 without ttl. */
  flushInterval?: number
  /** A clock in ms for tests (default: monotonic, performance.timeOrigin + performance.now(); a stepped wall clock changes nothing). Operations are then stamped exactly. */
  clock?: () => number
  /** Expired entries emit a HandleLeakWarning, once per site per minute. Default on unless NODE_ENV=production; HANDLE_LEDGER_STRICT=0|1 overrides. */
  strict?: boolean
}

export interface EntryInfo {
  /** Wall-clock ms (Date.now() - ageMs), for display; with a custom clock, that clock's time. */
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
  /** Live entries are judged at this many times their p99 lifetime (default 5)... */
  outlierFactor?: number
  /** ...and never younger than this (ms, default 1000). */
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

/** The figures one outlier test weighed (counts are entries seen, not weighted estimates). */
export interface VerdictEvidence {
  /** Compared with the caller's (or site's) own removed entries, or with the site's other callers. */
  versus: 'own-history' | 'other-callers'
  /** The age judged at: max(outlierFloorMs, outlierFactor x p99), at least the longest lifetime against own history, at most the TTL against other callers. */
  olderThanMs: number
  /** Reference entries whose fate at that age is known, and how many outlived it. */
  reference: number
  referenceBeyond: number
  /** The reference's removed entries: how many, p99, p99.9 and max lifetime (ms). */
  lifetimes: number
  p99Ms: number
  p999Ms: number
  maxMs: number
  /** Judged entries whose fate at that age is known, and how many outlived it. */
  entries: number
  beyond: number
  /** How many of `entries` the reference makes likely to outlive it: entries x (referenceBeyond + 1) / (reference + 1). */
  expected: number
  /** The chance of `beyond` or more if the judged entries were like the reference (Fisher's exact test). */
  chance: number
  /** The verdict's threshold on `chance` (1e-6). */
  bound: number
}

/** Why a site or caller is suspect: the rule and the figures it weighed (docs/diagnosis.md#the-rules). */
export type Verdict =
  | { rule: 'never-removed', scope: 'site' | 'caller', live: number, expired: number, oldestMs: number | null, estimated: boolean, evidence: VerdictEvidence | null }
  | { rule: 'outliers', scope: 'site' | 'caller', count: number, more: boolean, oldestMs: number | null, estimated: boolean, evidence: VerdictEvidence }
  | { rule: 'expiry-share', scope: 'site' | 'caller', expired: number, removed: number, share: number, estimated: boolean }
  | { rule: 'growth', scope: 'site', grown: number, from: number, to: number, windowMs: number, removed: number, oldestMs: number, p99Ms: number, estimated: boolean }

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
  verdict: Verdict | null
  /** The verdict in words. */
  reason: string | null
  /** The frame that tells this caller from the site's other callers (the app's own code). */
  label: string | null
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
  /** Never removed, a caller never removing, outliers or expiry share (docs/diagnosis.md). */
  suspect: boolean
  /** The site's verdict: its suspect caller's, or the site's own. */
  verdict: Verdict | null
  /** The verdict in words (a caller's verdict names the caller by its label). */
  reason: string | null
  /** The caller its verdict names (see CallerReport.label), or the one app line that reaches a dependency's site; else null. */
  label: string | null
  /** Weighted estimates from sampled inserts ('sampled' mode). */
  estimated: boolean
  lifetime: LifetimeReport | null
  callers: CallerReport[]
  otherCallers: OtherCallers | null
  appFrame: string | null
  inDependency: boolean
  /**
   * Inserted by `hold()`, which removes its entries when the call ends: never
   * suspect (a long-lived held entry is a slow call). `acquire()`'s entries are
   * judged like `set()`'s: a forgotten `release()` is a leak.
   */
  held: boolean
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
  /** Present when the ledger was rebuilt from the map's own entries (a hand-over that did not finish): per-site figures count from `at`; the map's totals carry on. */
  reset?: { count: number, at: number }
  oldestEntries?: OldestEntry[]
}

/** What /debug/handles adds to a report or diff it had to bound in size. */
export interface ResponseBounds {
  /** Sites (or oldest entries) were left out. */
  truncated?: boolean
  /** Maps left out. */
  mapsOmitted?: number
}

/** The saved form of every report, snapshot and diff is described by `handle-ledger/report.schema.json`. */
export interface RegistryReport extends ResponseBounds {
  kind: 'report'
  schemaVersion: 2
  pid: number
  at: number
  maps: MapReport[]
}

export interface Snapshot {
  kind: 'snapshot'
  /** The version of the saved JSON (2); registry.diff() refuses a newer one. */
  schemaVersion: number
  pid: number
  at: number
  maps: MapReport[]
  diff(older: Snapshot): Diff
}

export interface SiteDiff {
  site: string
  stack: string[]
  /** As SiteReport's; absent for a site of a closed map. */
  appFrame?: string | null
  inDependency?: boolean
  live: number
  liveDelta: number
  insertsDelta: number
  removesDelta: number
  expiredDelta: number
  suspect: boolean
  /** The newer snapshot's verdict, or the growth rule's. */
  verdict: Verdict | null
  reason: string | null
  /** The newer snapshot's site label (see SiteReport.label). */
  label: string | null
  /**
   * The growth rule: live grew over the window while removes went on, and the
   * oldest entry lived through the whole window and past 10x the site's p99
   * lifetime (and 1 s). Sets `suspect`; the verdict is the report's own when it
   * already flagged the site.
   */
  growth: boolean
  /** hold() inserts at this site (see SiteReport.held). */
  held: boolean
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
  /** Sites /debug/handles left out. */
  sitesOmitted?: number
}

export interface Diff extends ResponseBounds {
  kind: 'diff'
  schemaVersion: number
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
  /** A plain `Map` copy of the entries, in order: for `structuredClone`, `assert.deepStrictEqual` and APIs that need a real Map. */
  toMap(): Map<K, V>
  /**
   * Inserts `key` -> `value`, runs `fn(value)`, and removes the entry when fn
   * returns, throws or settles; returns what fn returns (for a promise, one that
   * settles after the removal). Throws, inserting nothing, when `key` is live.
   * With `options.signal` it returns a promise, and an abort removes the entry
   * and rejects with `signal.reason`.
   */
  hold<R>(key: K, value: V, fn: (value: V) => R, options: HoldOptions & { signal: AbortSignal }): Promise<Awaited<R>>
  hold<R>(key: K, value: V, fn: (value: V) => R, options?: HoldOptions & { signal?: undefined }): R extends PromiseLike<infer T> ? Promise<T> : R
  hold<R>(key: K, value: V, fn: (value: V) => R, options?: HoldOptions): Promise<Awaited<R>> | (R extends PromiseLike<infer T> ? Promise<T> : R)
  /**
   * Inserts `key` -> `value` until the handle is released or disposed
   * (`using entry = map.acquire(id, ctx)`). Throws, inserting nothing, when `key` is live.
   */
  acquire(key: K, value: V): HeldEntry<K>
}

export interface HoldOptions {
  /** Aborting it removes the entry and rejects hold()'s promise with `signal.reason`. */
  signal?: AbortSignal
}

/** The handle `acquire()` returns. */
export interface HeldEntry<K = any> extends Disposable {
  readonly key: K
  /**
   * Removes the entry: true the first time, false when released before or when
   * the entry is gone (expired, deleted, cleared); never removes a newer entry
   * under the same key.
   */
  release(): boolean
  /** release(), for `using`. */
  [Symbol.dispose](): void
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

/** Message of the diagnostics channel 'handle-ledger:expire': one per expired entry. */
export interface ExpireMessage<K = unknown, V = unknown> {
  map: string
  mapId: number
  key: K
  value: V
  ageMs: number
  site: string | null
  stack: string[]
}

/** Message of the diagnostics channel 'handle-ledger:suspect': once per suspect site of a map. */
export interface SuspectMessage {
  map: string
  mapId: number
  threadId: number
  site: string
  stack: string[]
  live: number
  oldestAgeMs: number | null
  reason: string
}

/** The `code` of handle-ledger's process warnings (for 'warning' handlers and Node 20.11+'s --disable-warning). */
export type WarningCode = 'HANDLE_LEDGER_EXPIRED' | 'HANDLE_LEDGER_CALLBACK_FAILED' | 'HANDLE_LEDGER_TICK_FAILED' | 'HANDLE_LEDGER_RESYNC' | 'HANDLE_LEDGER_BAD_ENV'

/**
 * Replaces `object[property]`, an existing plain Map (not a subclass), with a
 * HandleMap holding its entries (counted in `adopted`), and returns it.
 */
export declare function instrument<K = any, V = any>(object: object, property: string | symbol, options?: HandleMapOptions<K, V>): HandleMap<K, V> & { readonly adopted: number }
/**
 * Puts the original Map back (with the entries held now) and closes the
 * HandleMap. If the library replaced its map meanwhile, that map is left in
 * place and returned.
 */
export declare function uninstrument<K = any, V = any>(object: object, property: string | symbol): Map<K, V>
/** Which frames are the app's: a predicate on the frame text, `{ ignore }` patterns, or null for the defaults. */
export declare function setAppFrame(option: ((frame: string) => boolean) | { ignore: Array<string | RegExp> } | null): void
