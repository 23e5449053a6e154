// Runs the checks of registered services on their intervals and reports each result. It follows
// the state: a new or changed check starts at once, a removed one stops. The result is handed
// to `report`, which records it through the daemon (state + follow) when it differs.
import type { ExternalCheck } from '../model/catalog.js';
import type { BerthState } from '../model/types.js';
import type { ProbeResult } from '../kernel/probe.js';

export type Probe = (check: ExternalCheck) => Promise<ProbeResult>;

interface Running {
  def: string;
  timer: NodeJS.Timeout;
  stopped: boolean;
}

export class Checker {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly probe: Probe,
    private readonly report: (serviceId: string, check: ExternalCheck, r: ProbeResult) => void,
  ) {}

  /** Start, restart or stop checks to match the state. */
  sync(state: BerthState): void {
    const want = new Map<string, { serviceId: string; check: ExternalCheck }>();
    for (const svc of Object.values(state.catalog?.services ?? {})) for (const c of svc.checks) want.set(c.id, { serviceId: svc.id, check: c });
    for (const [id, r] of this.running) {
      const w = want.get(id);
      if (!w || JSON.stringify(w) !== r.def) this.stopOne(id);
    }
    for (const [id, w] of want) if (!this.running.has(id)) this.startOne(id, w.serviceId, w.check);
  }

  stop(): void {
    for (const id of [...this.running.keys()]) this.stopOne(id);
  }

  private stopOne(id: string): void {
    const r = this.running.get(id);
    if (!r) return;
    r.stopped = true;
    clearTimeout(r.timer);
    this.running.delete(id);
  }

  private startOne(id: string, serviceId: string, check: ExternalCheck): void {
    const r: Running = { def: JSON.stringify({ serviceId, check }), timer: setTimeout(() => undefined, 0), stopped: false };
    const tick = async () => {
      const res = await this.probe(check).catch((e: Error): ProbeResult => ({ status: 'critical', output: e.message }));
      if (r.stopped) return;
      this.report(serviceId, check, res);
      r.timer = setTimeout(() => void tick(), check.intervalMs);
      r.timer.unref();
    };
    this.running.set(id, r);
    // The first run at once: a registration shows its real status without waiting an interval.
    r.timer = setTimeout(() => void tick(), 0);
    r.timer.unref();
  }
}
