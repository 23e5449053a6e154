// The catalog's persisted records: services berth does not run, registered through Consul's agent
// API (PUT /v1/agent/service/register), with the checks berthd performs for them. Pure data.

export type CheckStatus = 'passing' | 'warning' | 'critical';

/** A check berthd runs from its own network namespace: a TCP connect or an HTTP GET. */
export interface ExternalCheck {
  /** Consul's CheckID: "service:<id>" for one check, "service:<id>:<n>" for several. */
  id: string;
  name: string;
  kind: 'tcp' | 'http';
  /** host:port (tcp) or a URL (http), as given. */
  target: string;
  /** HTTP method (http checks), GET unless given. */
  method: string;
  intervalMs: number;
  timeoutMs: number;
  /** Deregister the service when this check has been critical this long (0: never). */
  deregisterAfterMs: number;
  /** Status before the first run (Consul's Check.Status; critical unless given). */
  initialStatus: CheckStatus;
  notes: string;
}

/** What Consul says of a service instance besides its identity and checks. */
export interface InstanceFields {
  tags: string[];
  /** '' means the node's address (Consul's rule). */
  address: string;
  port: number;
  meta: Record<string, string>;
  weights: { passing: number; warning: number };
  enableTagOverride: boolean;
}

export interface ExternalServiceRecord extends InstanceFields {
  id: string;
  name: string;
  checks: ExternalCheck[];
  /** RFC 3339 registration time. */
  registered: string;
}

/** The last result of a check. */
export interface CheckResult {
  status: CheckStatus;
  output: string;
  /** RFC 3339 time of the status change (kept while the status stays the same). */
  since: string;
}

export interface CatalogState {
  services: Record<string, ExternalServiceRecord>;
  /** Check id -> last result. Absent: not run yet (the check's initial status). */
  checks: Record<string, CheckResult>;
}

/** How the store keeps one registered service: its record and its checks' last results. */
export interface CatalogRecord {
  service: ExternalServiceRecord;
  checks: Record<string, CheckResult>;
}

/** The stored record of service `id` (undefined when it is not registered). */
export function catalogRecordOf(c: CatalogState | undefined, id: string): CatalogRecord | undefined {
  const service = c?.services[id];
  if (!service) return undefined;
  const checks: Record<string, CheckResult> = {};
  for (const ch of service.checks) {
    const r = c.checks[ch.id];
    if (r) checks[ch.id] = r;
  }
  return { service, checks };
}
