// What the multi-host bench reads from berthd's debug log ("<ISO time> <level> <message>").

/** "overlay: converged NAME IP from HOST in X ms": NAME -> when this host had it in place
 * (claimedAt + X would be the same instant; the line's own time is used). */
export function convergedAt(log: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of log.matchAll(/^(\S+) debug\s+overlay: converged (\S+) \S+ from \S+ in -?\d+ ms/gm)) {
    const t = Date.parse(m[1]!);
    if (Number.isFinite(t) && !out.has(m[2]!)) out.set(m[2]!, t);
  }
  return out;
}

/** The first "overlay: peers -D +A" line at or after `since` with D >= minDeleted: when this
 * host removed that many FDB/neighbour entries at once (a dead host's). */
export function peersRemovedAt(log: string, since: number, minDeleted: number): number | undefined {
  for (const m of log.matchAll(/^(\S+) debug\s+overlay: peers -(\d+) \+\d+$/gm)) {
    const t = Date.parse(m[1]!);
    if (t >= since && Number(m[2]) >= minDeleted) return t;
  }
  return undefined;
}

export interface ApplyLine {
  t: number;
  endpoints: number;
  phases: Record<string, number>;
}

/** "overlay: applied N endpoints: networks a peers b follow c" lines (one per change that
 * altered what this host knows) between `since` and `until`. */
export function applyLines(log: string, since: number, until: number): ApplyLine[] {
  const out: ApplyLine[] = [];
  for (const m of log.matchAll(/^(\S+) debug\s+overlay: applied (\d+) endpoints: (.*)$/gm)) {
    const t = Date.parse(m[1]!);
    if (!(t >= since && t <= until)) continue;
    const tokens = m[3]!.trim().split(/\s+/);
    const phases: Record<string, number> = {};
    for (let i = 0; i + 1 < tokens.length; i += 2) phases[tokens[i]!] = Number(tokens[i + 1]);
    out.push({ t, endpoints: Number(m[2]), phases });
  }
  return out;
}
