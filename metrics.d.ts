// Types of handle-ledger/metrics: prom-client and OpenTelemetry exporters.

export interface RegisterMetricsOptions {
  /** A prom-client Registry (default: the client's global registry). */
  registry?: unknown
  sitesPerMap?: number
  /** Only this map name. */
  map?: string
  /** Prepended to every metric name, as in prom-client's collectDefaultMetrics. */
  prefix?: string
  /** Constant labels on every series, as in collectDefaultMetrics (not 'map', 'site', 'caller', 'rule' or 'stat'). */
  labels?: Record<string, string | number>
}

/**
 * Registers handle-ledger's metrics with a prom-client registry, for servers that already expose /metrics.
 * Counters keep the totals of closed maps of the same name: they never go down.
 */
export declare function registerMetrics(client: unknown, options?: RegisterMetricsOptions): { names: string[], unregister(): void }

export interface RegisterOpenTelemetryOptions {
  /** Only this map name. */
  map?: string
  /** Per-site series per map name (default 10, at most 100). */
  sitesPerMap?: number
  /** Constant attributes on every data point. */
  attributes?: Record<string, string | number | boolean>
}

/**
 * Registers observable instruments on an OpenTelemetry Meter (from @opentelemetry/api, an optional
 * peer dependency): handle_ledger.inserts/removes/expired (counters, closed maps included),
 * handle_ledger.live, handle_ledger.oldest_age (s) and handle_ledger.site.live (gauges).
 */
export declare function registerOpenTelemetry(meter: unknown, options?: RegisterOpenTelemetryOptions): { names: string[], unregister(): void }
