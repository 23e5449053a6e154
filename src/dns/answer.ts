// The synchronous part of answering one query, shared by the server (server.ts) and its UDP worker
// processes (udp-worker.ts), so that both give the same answer to the same bytes: parse, ask the
// view, and build the response, or say that the query must be forwarded (the server alone does
// that: forwarded queries share its sockets and its in-flight limit).
import type { DnsView } from '../plan/dns-view.js';
import type { Query } from './wire.js';
import { errorResponse, localResponse, parseQuery, RCODE, udpLimit, type Rcode } from './wire.js';

export interface AnswerCounts {
  queries: number;
  local: number;
  refused: number;
  malformed: number;
  dropped: number;
}

/** A query for names that are not berth's: forward it to these upstreams. */
export interface ToForward {
  forward: true;
  query: Query;
  upstreams: 'host' | readonly string[];
}

/**
 * The answer rotates (several records): a UDP worker hands such queries to berthd, whose view's
 * rotation cursor is the only one, so consecutive queries rotate whichever process reads them.
 */
export const ROTATED = Symbol('rotated');

/** Rate-limited logging: at most one line per key per 10 s. */
export type RatedLog = (level: 'debug' | 'warn', key: string, msg: string) => void;

/**
 * A response now, undefined (dropped), the forwarding to do, or (with handBackRotated) ROTATED.
 * `note.fixed` is set when the response is a local answer that the same query would get again
 * from this view (not rotated): response-cache.ts keeps only those.
 */
export function answerQuery(
  view: DnsView | undefined,
  msg: Buffer,
  listenIp: string,
  askerIp: string,
  proto: 'udp' | 'tcp',
  counts: AnswerCounts,
  log: RatedLog,
  handBackRotated = false,
  note?: { fixed: boolean },
): Buffer | undefined | ToForward | typeof ROTATED {
  counts.queries++;
  const p = parseQuery(msg);
  if (!p.ok) {
    if ('drop' in p) {
      counts.dropped++;
      return undefined;
    }
    counts.malformed++;
    log('debug', `bad:${askerIp}`, `dns: ${rcodeName(p.rcode)} to ${askerIp}: ${p.why}`);
    return errorResponse(msg, p.rcode, p.questionEnd, { badvers: p.badvers });
  }
  const q = p.query;
  if (!view) return errorResponse(msg, RCODE.SERVFAIL, q.questionEnd, { edns: !!q.edns });

  // A name with odd bytes in a label can never be one of berth's: the view is asked with a
  // placeholder that matches nothing, and decides only whether to forward or refuse.
  const d = view.answer(listenIp, askerIp, q.plainName ? q.qname : '\u0000', q.qtype);
  if (d.kind === 'refuse') {
    counts.refused++;
    log('debug', `refuse:${askerIp}`, `dns: REFUSED ${askerIp} -> ${listenIp}: ${d.why}`);
    return errorResponse(msg, RCODE.REFUSED, q.questionEnd, { edns: !!q.edns });
  }
  if (d.kind === 'local') {
    if (handBackRotated && d.records.length > 1) return ROTATED;
    counts.local++;
    if (note && d.records.length <= 1) note.fixed = true;
    const limit = proto === 'udp' ? udpLimit(q.edns) : 65535;
    return localResponse(msg, q, d.rcode === 'NXDOMAIN' ? RCODE.NXDOMAIN : RCODE.NOERROR, d.records, limit, d.additional);
  }
  return { forward: true, query: q, upstreams: d.upstreams };
}

function rcodeName(r: Rcode): string {
  return (Object.keys(RCODE) as Array<keyof typeof RCODE>).find((k) => RCODE[k] === r) ?? String(r);
}
