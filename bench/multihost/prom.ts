// The etcd counters the multi-host bench reads from each member's /metrics (Prometheus text):
// gRPC calls handled and stream messages, per method, summed over result codes.

/** method -> count, for one counter family. */
export type ByMethod = Record<string, number>;

export interface EtcdCounters {
  /** grpc_server_handled_total: finished calls (unary: one per request). */
  handled: ByMethod;
  /** grpc_server_msg_received_total: messages received (a stream's requests: keepalives, watch creates). */
  received: ByMethod;
  /** grpc_server_msg_sent_total: messages sent (a watch stream's responses carry its events). */
  sent: ByMethod;
}

const FAMILIES: Record<string, keyof EtcdCounters> = {
  grpc_server_handled_total: 'handled',
  grpc_server_msg_received_total: 'received',
  grpc_server_msg_sent_total: 'sent',
};

export function emptyCounters(): EtcdCounters {
  return { handled: {}, received: {}, sent: {} };
}

/** The three gRPC counter families of one /metrics text, by grpc_method. */
export function parseEtcdMetrics(text: string): EtcdCounters {
  const c = emptyCounters();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\}\s+(\S+)$/.exec(line.trim());
    if (!m) continue;
    const fam = FAMILIES[m[1]!];
    if (!fam) continue;
    const method = /(?:^|,)grpc_method="([^"]*)"/.exec(m[2]!)?.[1];
    const v = Number(m[3]);
    if (!method || !Number.isFinite(v)) continue;
    c[fam][method] = (c[fam][method] ?? 0) + v;
  }
  return c;
}

/** a + b, per family and method (the members of a cluster added up). */
export function addCounters(a: EtcdCounters, b: EtcdCounters): EtcdCounters {
  const out = emptyCounters();
  for (const fam of ['handled', 'received', 'sent'] as const) {
    for (const src of [a[fam], b[fam]]) for (const [k, v] of Object.entries(src)) out[fam][k] = (out[fam][k] ?? 0) + v;
  }
  return out;
}

/** after - before, keeping only what changed. */
export function diffCounters(after: EtcdCounters, before: EtcdCounters): EtcdCounters {
  const out = emptyCounters();
  for (const fam of ['handled', 'received', 'sent'] as const) {
    for (const [k, v] of Object.entries(after[fam])) {
      const d = v - (before[fam][k] ?? 0);
      if (d !== 0) out[fam][k] = d;
    }
  }
  return out;
}
