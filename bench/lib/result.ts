// The shape of what a benchmark run produces, before it is written as BENCHMARKS.md.

export type Better = 'lower' | 'higher';

/** One measured quantity (a table): values per system. */
export interface Measure {
  id: string;
  label: string;
  unit: string;
  better: Better;
  values: Record<string, number[]>;
  /** system -> why this quantity was not measured for it (the rest of the metric may have been). */
  notMeasured: Record<string, string>;
}

export interface MetricResult {
  id: string;
  title: string;
  /** What the numbers mean, in a sentence or two. */
  description: string;
  /** Systems in table order. */
  systems: string[];
  /** Systems added while measuring (e.g. berth's daemon-side timings): shown only where they have values. */
  derivedSystems?: string[];
  /** Systems that are berth (ratios are berth/peer for each of them). */
  berthSystems: string[];
  measures: Measure[];
  /** system -> why it was not measured. */
  notMeasured: Record<string, string>;
  notes: string[];
  /** Exact command to reproduce this metric alone. */
  command: string;
  seconds: number;
}

export class MetricBuilder {
  readonly result: MetricResult;
  constructor(init: Omit<MetricResult, 'measures' | 'notMeasured' | 'notes' | 'seconds'>) {
    this.result = { ...init, measures: [], notMeasured: {}, notes: [], seconds: 0 };
  }

  measure(id: string, label: string, unit: string, better: Better): Measure {
    let m = this.result.measures.find((x) => x.id === id);
    if (!m) {
      m = { id, label, unit, better, values: {}, notMeasured: {} };
      this.result.measures.push(m);
    }
    return m;
  }

  /** Record a value; a system not in the table yet (e.g. a daemon-side view of berth) is appended. */
  add(measureId: string, system: string, value: number, opts: { afterSystem?: string; berth?: boolean } = {}): void {
    const m = this.result.measures.find((x) => x.id === measureId);
    if (!m) throw new Error(`unknown measure ${measureId}`);
    const sys = this.result.systems;
    if (!sys.includes(system)) {
      const at = opts.afterSystem ? sys.indexOf(opts.afterSystem) : -1;
      if (at >= 0) sys.splice(at + 1, 0, system);
      else sys.push(system);
      (this.result.derivedSystems ??= []).push(system);
    }
    if (opts.berth && !this.result.berthSystems.includes(system)) this.result.berthSystems.push(system);
    (m.values[system] ??= []).push(value);
  }

  /** The system is not measured at all in this metric, or (with measureIds) only for those quantities. */
  skip(system: string, why: string, measureIds?: string[]): void {
    if (!measureIds) {
      this.result.notMeasured[system] ??= why;
      return;
    }
    for (const m of this.result.measures) if (measureIds.includes(m.id)) m.notMeasured[system] ??= why;
  }

  note(s: string): void {
    this.result.notes.push(s);
  }
}
