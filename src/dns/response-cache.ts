// Answers already built, kept per view: the same query bytes from the same asker to the same
// listening address get the same local answer until the view changes, so a repeated query
// costs a map lookup and a copy instead of parsing, asking the view and encoding again. Only
// answers that do not vary between two asks are kept (one record, no rotation: answerQuery says
// which); the first two bytes (the query's ID) are the asker's own and are written into the copy.
import type { DnsView } from '../plan/dns-view.js';
import { answerQuery, type AnswerCounts, type RatedLog } from './answer.js';

/** Entries kept at most per view; when full, all are dropped (they are rebuilt on demand). */
const MAX_ENTRIES = 8192;

export class ResponseCache {
  private view: DnsView | undefined;
  private readonly kept = new Map<string, Buffer>();

  constructor(private readonly max = MAX_ENTRIES) {}

  /** answerQuery, from the cache when the same query was answered locally from this view (UDP only). */
  answer(view: DnsView | undefined, msg: Buffer, listenIp: string, askerIp: string, counts: AnswerCounts, log: RatedLog, handBackRotated = false): ReturnType<typeof answerQuery> {
    if (!view || msg.length < 12) return answerQuery(view, msg, listenIp, askerIp, 'udp', counts, log, handBackRotated);
    if (view !== this.view) {
      this.view = view;
      this.kept.clear();
    }
    const key = `${listenIp} ${askerIp} ${msg.toString('latin1', 2)}`;
    const hit = this.kept.get(key);
    if (hit) {
      counts.queries++;
      counts.local++;
      const out = Buffer.from(hit);
      out[0] = msg[0]!;
      out[1] = msg[1]!;
      return out;
    }
    const note = { fixed: false };
    const r = answerQuery(view, msg, listenIp, askerIp, 'udp', counts, log, handBackRotated, note);
    if (note.fixed && Buffer.isBuffer(r)) {
      if (this.kept.size >= this.max) this.kept.clear();
      this.kept.set(key, r);
    }
    return r;
  }

  get size(): number {
    return this.kept.size;
  }
}
