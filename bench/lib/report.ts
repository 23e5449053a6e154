// BENCHMARKS.md: one section per metric, each a table per measured quantity with median, min and max
// per system and the berth/peer ratio of medians.
import type { MetricResult } from './result.js';
import { fmt, summarize } from './stats.js';

export interface Machine {
  os: string;
  kernel: string;
  cpu: string;
  cores: number;
  memGiB: number;
  loadStart: string;
  loadEnd?: string;
  /** Package versions of the peers and tools, and berth's commit. */
  versions?: Record<string, string>;
}

export interface RunRecord {
  date: string;
  machine: Machine;
  /** The whole command line of the run. */
  command: string;
  quick: boolean;
  result: MetricResult;
}

export const METRIC_ORDER = ['setup', 'seq', 'scale', 'run', 'ports', 'dns', 'mem', 'pall', 'services', 'lb', 'catalog', 'compose'];

function ratio(berth: number | undefined, peer: number | undefined): string {
  if (berth === undefined || peer === undefined || peer === 0) return '—';
  return `${(berth / peer).toFixed(2)}×`;
}

function section(rec: RunRecord): string {
  const r = rec.result;
  const lines: string[] = [];
  lines.push(`## ${r.title}`, '');
  lines.push(r.description, '');
  const m = rec.machine;
  lines.push(
    `Measured ${rec.date}${rec.quick ? ' (**--quick**: tiny sizes, for checking the harness only)' : ''} on ` +
      `${m.os}, kernel ${m.kernel}, ${m.cores} × ${m.cpu}, ${m.memGiB} GiB; load average ${m.loadStart} at the start` +
      `${m.loadEnd ? `, ${m.loadEnd} at the end` : ''}. This metric took ${Math.round(r.seconds)} s.`,
    '',
  );
  const busy = Math.max(...[m.loadStart, m.loadEnd ?? ''].map((l) => Number(l.split(' ')[0]) || 0));
  // The benchmark itself keeps one to two cores busy; more than that means other work shared the machine.
  if (busy > m.cores + 1) {
    lines.push(
      `**Busy machine:** the load average reached ${busy.toFixed(1)} on ${m.cores} cores while this was measured ` +
        '(the benchmark alone accounts for 1-2; the rest was other work): these figures check the harness; ' +
        'do not draw conclusions from them.',
      '',
    );
  }
  if (m.versions) {
    lines.push(`Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
  }
  lines.push(`Reproduce: \`${r.command}\``, '');
  const failed = new Set(Object.keys(r.notMeasured));
  const berthMeasured = r.measures.some((q) => r.berthSystems.some((bs) => !failed.has(bs) && !(q.notMeasured ?? {})[bs] && (q.values[bs]?.length ?? 0) > 0));
  for (const q of r.measures) {
    lines.push(`**${q.label}** (${q.unit}, ${q.better} is better)`, '');
    const head = ['system', 'median', 'min', 'max', 'n', ...r.berthSystems.map((bs) => `${bs} / system`)];
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
    const out = (s: string) => failed.has(s) || (q.notMeasured ?? {})[s] !== undefined;
    const med = new Map<string, number | undefined>();
    for (const s of r.systems) med.set(s, out(s) ? undefined : summarize(q.values[s] ?? [])?.median);
    for (const s of r.systems) {
      if (r.derivedSystems?.includes(s) && !(q.values[s]?.length)) continue;
      if (out(s)) {
        lines.push(`| ${[s, 'not measured', '', '', '', ...r.berthSystems.map(() => '')].join(' | ')} |`);
        continue;
      }
      const st = summarize(q.values[s] ?? []);
      const isBerth = r.berthSystems.includes(s) || s.startsWith('berth');
      const ratios = r.berthSystems.map((bs) => (isBerth ? '' : ratio(med.get(bs), st?.median)));
      lines.push(`| ${[s, fmt(st?.median), fmt(st?.min), fmt(st?.max), String(st?.n ?? 0), ...ratios].join(' | ')} |`);
    }
    lines.push('');
  }
  if (!berthMeasured && r.berthSystems.length > 0) lines.push('No berth figure in this section, so no ratio.', '');
  const reasons: string[] = [];
  for (const s of r.systems) if (failed.has(s)) reasons.push(`- ${s}: ${r.notMeasured[s]}`);
  for (const q of r.measures) {
    for (const [s, why] of Object.entries(q.notMeasured ?? {})) if (!failed.has(s)) reasons.push(`- ${s}, ${q.label}: ${why}`);
  }
  if (reasons.length) lines.push('Not measured:', '', ...reasons, '');
  if (r.notes.length) {
    lines.push('Notes:', '');
    for (const n of r.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  return lines.join('\n');
}

export function renderMarkdown(records: Record<string, RunRecord>): string {
  const out: string[] = [];
  out.push('# berth benchmarks', '');
  out.push(
    'Written by the harness in `bench/` (`npm run bench`; see bench/README.md for what each metric means and how ' +
      'each peer is set up). Every system is measured on this machine in the same run, inside throw-away lab ' +
      'network namespaces, alternating between systems. The **berth / system** columns are the ratio of ' +
      'medians: for times and memory below 1× means berth uses less; for rates (higher is better) above 1× ' +
      'means berth does more. A system that could not run says why instead of giving a number. Each section ' +
      'gives the machine, its load and the versions measured: on a small shared machine absolute figures move ' +
      'with whatever else runs, so compare systems within one run, and read min/max before a median.',
    '',
  );
  const ids = METRIC_ORDER.filter((id) => records[id]);
  const dates = [...new Set(ids.map((id) => records[id]!.date.slice(0, 10)))];
  const cmds = [...new Set(ids.map((id) => records[id]!.command))];
  out.push(`Sections below come from ${cmds.length === 1 ? 'the run' : 'the runs'}: ${cmds.map((c) => `\`${c}\``).join(', ')} (${dates.join(', ')}).`, '');
  for (const id of ids) out.push(section(records[id]!));
  return out.join('\n');
}
