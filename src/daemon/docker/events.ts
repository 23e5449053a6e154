// GET /events: container and network events as moby sends them (Type, Action, status, id,
// Actor.Attributes, time, timeNano), to every listener while it is connected, and from a bounded
// ring of recent events for `since`/`until` (moby keeps the last 256 in memory; berth keeps more).
import { BadRequest } from '../../model/errors.js';
import { labelMatches, type Filters } from './filters.js';

export interface DockerEvent {
  Type: 'container' | 'network' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

/** How many past events `since` can reach back to. */
export const EVENT_RING_SIZE = 1000;

export class EventBus {
  private readonly listeners = new Set<(e: DockerEvent) => void>();
  private readonly ring: DockerEvent[] = [];
  private lastNano = 0;

  constructor(private readonly ringSize = EVENT_RING_SIZE) {}

  emit(type: DockerEvent['Type'], action: string, id: string, attributes: Record<string, string>): void {
    // Strictly increasing timeNano: events of one instant keep their order in since/until replies.
    // (A double holds ns since 1970 only to 256 ns, hence steps of a microsecond.)
    const nano = Math.max(Date.now() * 1_000_000, this.lastNano + 1000);
    this.lastNano = nano;
    const e: DockerEvent = { Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local', time: Math.floor(nano / 1e9), timeNano: nano };
    // The older fields clients still read (compose 1.x reads status and id).
    if (type === 'container') Object.assign(e, { status: action, id, from: attributes['image'] ?? '' });
    this.ring.push(e);
    if (this.ring.length > this.ringSize) this.ring.splice(0, this.ring.length - this.ringSize);
    for (const l of this.listeners) l(e);
  }

  /** Recorded events with sinceNano <= timeNano <= untilNano, oldest first. */
  past(sinceNano: number, untilNano: number): DockerEvent[] {
    return this.ring.filter((e) => e.timeNano >= sinceNano && e.timeNano <= untilNano);
  }

  subscribe(fn: (e: DockerEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

const EVENT_FILTERS = ['type', 'event', 'container', 'network', 'label'];

/** The filter names moby's /events takes that berth knows; others are refused, as moby does. */
export function checkEventFilters(f: Filters): Filters {
  for (const k of Object.keys(f)) if (!EVENT_FILTERS.includes(k)) throw new BadRequest(`invalid filter '${k}'`);
  for (const t of f['type'] ?? []) if (!['container', 'network', 'image', 'volume', 'plugin', 'daemon', 'service', 'node', 'secret', 'config'].includes(t)) throw new BadRequest(`invalid filter 'type=${t}'`);
  return f;
}

/** moby's rules: each filter name must match; values of one name are alternatives, labels all must hold. */
export function eventMatches(e: DockerEvent, f: Filters): boolean {
  const any = (k: string, test: (v: string) => boolean) => !f[k]?.length || f[k].some(test);
  const actor = (type: DockerEvent['Type']) => (v: string) => e.Type === type && (e.Actor.ID.startsWith(v) || e.Actor.Attributes['name'] === v);
  // "exec_start: sh" matches event=exec_start, as moby compares the action before its colon.
  const action = e.Action.split(':')[0] ?? e.Action;
  return (
    any('type', (v) => v === e.Type) &&
    any('event', (v) => v === e.Action || v === action) &&
    any('container', actor('container')) &&
    any('network', actor('network')) &&
    (f['label'] ?? []).every((l) => labelMatches(e.Actor.Attributes, l))
  );
}

/** A Docker timestamp (unix seconds, optionally with up to nine decimals) in nanoseconds. */
export function timestampNano(s: string): number {
  const m = /^(\d{1,12})(?:\.(\d{1,9}))?$/.exec(s);
  if (!m) throw new BadRequest(`invalid timestamp '${s}': give unix seconds, e.g. 1700000000 or 1700000000.5`);
  return Number(m[1]) * 1e9 + Number((m[2] ?? '').padEnd(9, '0'));
}
