// The DNS wire format at the level the server needs: parse a query's header, question and EDNS
// record strictly (anything odd is FORMERR/NOTIMP, never an exception that escapes), and build
// responses. Local answers are small (A and PTR records) and echo the client's question byte for
// byte, so they are written here directly; forwarded packets pass through unchanged apart from
// the ID. (The tests check every packet with the dns-packet decoder.)

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

const F_QR = 0x8000;
const F_AA = 0x0400;
const F_TC = 0x0200;
const F_RD = 0x0100;
const F_RA = 0x0080;
const F_CD = 0x0010;

const TYPE_OPT = 41;
const CLASS_IN = 1;
/** The UDP size berth advertises in its OPT records (what it accepts; the DNS flag day 2020 value). */
export const MAX_UDP_PAYLOAD = 1232;
/** Largest UDP answer berth sends, whatever the client advertises (a local bridge: fragments are fine). */
export const MAX_UDP_ANSWER = 4096;
/** Queries larger than this are not queries: FORMERR. */
export const MAX_QUERY_SIZE = 4096;

export interface Edns {
  udpSize: number;
  version: number;
}

export interface Query {
  id: number;
  flags: number;
  /** The question name, labels joined by '.', without a trailing dot ('' for the root). */
  qname: string;
  /** False when a label holds a '.', a space or a non-ASCII byte: such a name can never be local. */
  plainName: boolean;
  qtype: number;
  qclass: number;
  /** Offset just after the question section: bytes [12, questionEnd) are the question, verbatim. */
  questionEnd: number;
  edns: Edns | undefined;
}

export type ParseResult =
  | { ok: true; query: Query }
  /** Answer with this rcode (header and, when it was readable, the question). */
  | { ok: false; rcode: Rcode; questionEnd: number; why: string; badvers?: boolean }
  /** Not worth an answer (too short to carry an ID, or a response sent to us). */
  | { ok: false; drop: true; why: string };

class Malformed extends Error {}

/** Skip a (possibly compressed) name in a resource record; returns the offset after it. */
function skipName(buf: Buffer, off: number): number {
  for (let hops = 0; hops < 128; hops++) {
    if (off >= buf.length) throw new Malformed('name runs past the end');
    const len = buf[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) {
      if (off + 2 > buf.length) throw new Malformed('truncated pointer');
      return off + 2;
    }
    if ((len & 0xc0) !== 0) throw new Malformed('bad label type');
    off += 1 + len;
  }
  throw new Malformed('too many labels');
}

export function parseQuery(buf: Buffer): ParseResult {
  if (buf.length < 12) return { ok: false, drop: true, why: `${buf.length}-byte packet` };
  const flags = buf.readUInt16BE(2);
  if (flags & F_QR) return { ok: false, drop: true, why: 'a response, not a query' };
  if (buf.length > MAX_QUERY_SIZE) return { ok: false, rcode: RCODE.FORMERR, questionEnd: 12, why: `${buf.length}-byte query` };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { ok: false, rcode: RCODE.NOTIMP, questionEnd: 12, why: `opcode ${opcode}` };
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (qd !== 1) return { ok: false, rcode: RCODE.FORMERR, questionEnd: 12, why: `${qd} questions` };
  if (an !== 0 || ns !== 0) return { ok: false, rcode: RCODE.FORMERR, questionEnd: 12, why: 'records in a query' };

  // The question: labels only (a compression pointer here could only point into the header).
  let off = 12;
  const labels: string[] = [];
  let plain = true;
  let total = 0;
  for (;;) {
    if (off >= buf.length) return { ok: false, rcode: RCODE.FORMERR, questionEnd: 12, why: 'question runs past the end' };
    const len = buf[off]!;
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63) return { ok: false, rcode: RCODE.FORMERR, questionEnd: 12, why: 'bad label in question' };
    if (off + 1 + len > buf.length) return { ok: false, rcode: RCODE.FORMERR, questionEnd: 12, why: 'label runs past the end' };
    total += len + 1;
    if (total > 255) return { ok: false, rcode: RCODE.FORMERR, questionEnd: 12, why: 'name longer than 255' };
    const label = buf.toString('latin1', off + 1, off + 1 + len);
    if (!/^[\x21-\x2d\x2f-\x7e]+$/.test(label)) plain = false;
    labels.push(label);
    off += 1 + len;
  }
  if (off + 4 > buf.length) return { ok: false, rcode: RCODE.FORMERR, questionEnd: 12, why: 'question without type and class' };
  const qtype = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  off += 4;
  const questionEnd = off;

  // Additional records: at most one OPT (EDNS); other records are skipped.
  let edns: Edns | undefined;
  try {
    for (let i = 0; i < ar; i++) {
      const nameStart = off;
      off = skipName(buf, off);
      if (off + 10 > buf.length) throw new Malformed('truncated record');
      const type = buf.readUInt16BE(off);
      const rdlen = buf.readUInt16BE(off + 8);
      if (type === TYPE_OPT) {
        if (edns) throw new Malformed('two OPT records');
        if (buf[nameStart] !== 0) throw new Malformed('OPT with a name');
        edns = { udpSize: buf.readUInt16BE(off + 2), version: buf[off + 5]! };
      }
      off += 10 + rdlen;
      if (off > buf.length) throw new Malformed('record data runs past the end');
    }
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, rcode: RCODE.FORMERR, questionEnd, why: e.message };
    throw e;
  }

  if (edns && edns.version !== 0) return { ok: false, rcode: RCODE.NOERROR, questionEnd, why: `EDNS version ${edns.version}`, badvers: true };
  if (qtype === 0 || qtype === TYPE_OPT) return { ok: false, rcode: RCODE.FORMERR, questionEnd, why: `query type ${qtype}` };
  // Zone transfers and the obsolete mail types are not something a sandbox resolver asks.
  if (qtype >= 251 && qtype <= 254) return { ok: false, rcode: RCODE.NOTIMP, questionEnd, why: `query type ${qtype}` };
  if (qclass !== CLASS_IN) return { ok: false, rcode: RCODE.NOTIMP, questionEnd, why: `query class ${qclass}` };

  return {
    ok: true,
    query: { id: buf.readUInt16BE(0), flags, qname: labels.join('.'), plainName: plain, qtype, qclass, questionEnd, edns },
  };
}

/** The largest response the client takes over UDP: 512, or its EDNS size (at most 4096). */
export function udpLimit(edns: Edns | undefined): number {
  return edns ? Math.max(512, Math.min(edns.udpSize, MAX_UDP_ANSWER)) : 512;
}

function optRecord(extendedRcode = 0): Buffer {
  const b = Buffer.alloc(11);
  // name (root) 0, type OPT, class = our UDP size, TTL = ext rcode, version 0, flags 0; rdlen 0
  b.writeUInt16BE(TYPE_OPT, 1);
  b.writeUInt16BE(MAX_UDP_PAYLOAD, 3);
  b[5] = extendedRcode;
  return b;
}

function header(id: number, queryFlags: number, rcode: number, extra: number, counts: [number, number, number, number]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(F_QR | (queryFlags & (F_RD | F_CD)) | F_RA | extra | (rcode & 0xf), 2);
  h.writeUInt16BE(counts[0], 4);
  h.writeUInt16BE(counts[1], 6);
  h.writeUInt16BE(counts[2], 8);
  h.writeUInt16BE(counts[3], 10);
  return h;
}

/**
 * An answer with no records built from the raw query: FORMERR, NOTIMP, REFUSED, SERVFAIL,
 * NXDOMAIN, or BADVERS (extended rcode 16). The question is echoed when it was readable.
 */
export function errorResponse(query: Buffer, rcode: Rcode, questionEnd: number, opts: { edns?: boolean; badvers?: boolean } = {}): Buffer {
  const id = query.length >= 2 ? query.readUInt16BE(0) : 0;
  const flags = query.length >= 4 ? query.readUInt16BE(2) : 0;
  const withQ = questionEnd > 12 && questionEnd <= query.length;
  const withOpt = opts.edns || opts.badvers;
  const h = header(id, flags, rcode, 0, [withQ ? 1 : 0, 0, 0, withOpt ? 1 : 0]);
  // Keep the opcode of the query (RFC 1035: copied into the response).
  h.writeUInt16BE(h.readUInt16BE(2) | (flags & 0x7800), 2);
  const parts = [h];
  if (withQ) parts.push(query.subarray(12, questionEnd));
  if (withOpt) parts.push(optRecord(opts.badvers ? 1 : 0));
  return Buffer.concat(parts);
}

/** A name in wire form (no compression), or undefined when a label or the name is too long. */
export function encodeName(name: string): Buffer | undefined {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  const parts: Buffer[] = [];
  let total = 1;
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    if (b.length > 63) return undefined;
    total += b.length + 1;
    parts.push(Buffer.from([b.length]), b);
  }
  if (total > 255) return undefined;
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export interface LocalRecord {
  type: 'A' | 'PTR' | 'SRV';
  data: string;
  ttl: number;
  /** SRV: the target port. */
  port?: number;
  /** Owner name when it is not the question's (records of the additional section). */
  name?: string;
}

/** One resource record; its owner is a pointer to the question name unless `r.name` is given. */
function encodeRecord(r: LocalRecord): Buffer | undefined {
  let rdata: Buffer;
  let type: number;
  if (r.type === 'A') {
    type = 1;
    rdata = Buffer.from(r.data.split('.').map(Number));
  } else if (r.type === 'SRV') {
    type = 33;
    const target = encodeName(r.data);
    if (!target) return undefined;
    rdata = Buffer.alloc(6 + target.length);
    rdata.writeUInt16BE(1, 0); // priority
    rdata.writeUInt16BE(1, 2); // weight
    rdata.writeUInt16BE(r.port ?? 0, 4);
    target.copy(rdata, 6);
  } else {
    type = 12;
    const name = encodeName(r.data);
    if (!name) return undefined; // longer than DNS allows: leave it out
    rdata = name;
  }
  const owner = r.name === undefined ? Buffer.from([0xc0, 0x0c]) : encodeName(r.name);
  if (!owner) return undefined;
  const rr = Buffer.alloc(owner.length + 10 + rdata.length);
  owner.copy(rr, 0);
  let o = owner.length;
  rr.writeUInt16BE(type, o);
  rr.writeUInt16BE(CLASS_IN, o + 2);
  rr.writeUInt32BE(r.ttl >>> 0, o + 4);
  rr.writeUInt16BE(rdata.length, o + 8);
  o += 10;
  rdata.copy(rr, o);
  return rr;
}

/**
 * A local answer: the question verbatim (the client's letter case kept), then the records, each
 * named by a pointer to the question name. Sets TC with no records when it does not fit `limit`.
 */
export function localResponse(raw: Buffer, q: Query, rcode: Rcode, records: readonly LocalRecord[], limit: number, additional: readonly LocalRecord[] = []): Buffer {
  const rrs = records.map(encodeRecord).filter((b): b is Buffer => b !== undefined);
  let extra = additional.map(encodeRecord).filter((b): b is Buffer => b !== undefined);
  const question = raw.subarray(12, q.questionEnd);
  const opt = q.edns ? [optRecord()] : [];
  const base = 12 + question.length + rrs.reduce((n, b) => n + b.length, 0) + (q.edns ? 11 : 0);
  if (base > limit) {
    return Buffer.concat([header(q.id, q.flags, rcode, F_AA | F_TC, [1, 0, 0, opt.length]), question, ...opt]);
  }
  // The additional section is a courtesy: dropped (without TC) when it does not fit.
  if (base + extra.reduce((n, b) => n + b.length, 0) > limit) extra = [];
  return Buffer.concat([header(q.id, q.flags, rcode, F_AA, [1, rrs.length, 0, extra.length + opt.length]), question, ...rrs, ...extra, ...opt]);
}

/** Header-level facts of a response from upstream. */
export function responseFacts(buf: Buffer): { id: number; qr: boolean; tc: boolean; rcode: number } | undefined {
  if (buf.length < 12) return undefined;
  const flags = buf.readUInt16BE(2);
  return { id: buf.readUInt16BE(0), qr: (flags & F_QR) !== 0, tc: (flags & F_TC) !== 0, rcode: flags & 0xf };
}

/** Does the response carry the same question as the query (names compared without case)? */
export function sameQuestion(query: Buffer, questionEnd: number, response: Buffer): boolean {
  if (response.length < questionEnd || response.readUInt16BE(4) !== 1) return false;
  if (query.compare(response, questionEnd - 4, questionEnd, questionEnd - 4, questionEnd) !== 0) return false;
  for (let i = 12; i < questionEnd - 4; i++) {
    let a = query[i]!;
    let b = response[i]!;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

export function withId(buf: Buffer, id: number): Buffer {
  const out = Buffer.from(buf);
  out.writeUInt16BE(id, 0);
  return out;
}

/** A response cut down to header and question with TC set: "ask again over TCP". */
export function truncatedResponse(response: Buffer, questionEnd: number): Buffer {
  const out = Buffer.from(response.subarray(0, Math.min(questionEnd, response.length)));
  out.writeUInt16BE(out.readUInt16BE(2) | F_TC, 2);
  out.writeUInt16BE(questionEnd > 12 ? 1 : 0, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}
