// A UDP worker of the embedded DNS server: a child process of berthd that reads queries from the
// same UDP sockets as berthd (it gets a copy of each bound socket, child.send(msg, socket)) and
// answers the ones the view answers, through the same code (answer.ts) from a view it builds from
// the same inputs (a DnsViewBuilder's view(state, hostServices, opts); udp-workers.ts sends what changed of them;
// between a change and the new view it hands every query to berthd).
// Two readers of one socket: the kernel hands each datagram to one of them, so the per-datagram
// cost of Node (most of a query's cost, docs/dns.md) is spread over two cores.
// Queries to forward go back to berthd, which owns the upstream sockets and the in-flight limit, and
// so do names with several records (their rotation cursor is berthd's alone).
// It exits when berthd's end of the IPC channel closes (berthd stopped or died).
import type dgram from 'node:dgram';
import { DnsViewBuilder, type DnsView } from '../plan/dns-view.js';
import { ROTATED, type AnswerCounts, type RatedLog, type answerQuery } from './answer.js';
import { ResponseCache } from './response-cache.js';
import type { ToWorker, ViewDelta } from './udp-workers.js';
import type { BerthState } from '../model/types.js';

let view: DnsView | undefined;
/** Same views as berthd's (its sandboxes are re-applied only when changed). */
const views = new DnsViewBuilder();
/** berthd's state as of the last view, kept up to date with the changes it sends (udp-workers.ts ViewDelta). */
let state: BerthState = { version: 1, networks: {}, sandboxes: {} };
/** The view's number, and the latest number berthd announced: below it, the view is stale. */
let viewSeq = 0;
let latestSeq = 0;
const sockets = new Map<string, dgram.Socket>();
const counts: AnswerCounts = { queries: 0, local: 0, refused: 0, malformed: 0, dropped: 0 };
const rate = new Map<string, number>();
/** Local answers of the current view, kept for repeated queries. */
const answers = new ResponseCache();

const send = (m: unknown, onError?: () => void): void => {
  if (process.connected) process.send!(m, undefined, {}, (e) => e && onError?.());
};

const log: RatedLog = (level, key, msg) => {
  const now = Date.now();
  const last = rate.get(key);
  if (last !== undefined && now - last < 10_000) return;
  if (rate.size > 1000) rate.clear();
  rate.set(key, now);
  send({ t: 'log', level, msg });
};

function serve(ip: string, sock: dgram.Socket): void {
  sockets.get(ip)?.close();
  sockets.set(ip, sock);
  sock.on('error', (e) => log('warn', `udp:${ip}`, `dns worker: UDP socket on ${ip}: ${e.message}`));
  sock.on('message', (msg, rinfo) => {
    const asker = rinfo.address.startsWith('::ffff:') ? rinfo.address.slice(7) : rinfo.address;
    const toBerthd = () => send({ t: 'forward', ip, msg, port: rinfo.port, address: rinfo.address });
    // Without the latest view, berthd answers (it always has the current one).
    if (!view || viewSeq < latestSeq) return toBerthd();
    let r: ReturnType<typeof answerQuery>;
    try {
      r = answers.answer(view, msg, ip, asker, counts, log, true);
    } catch (e) {
      log('warn', 'internal', `dns worker: internal error: ${(e as Error).stack ?? String(e)}`);
      return;
    }
    if (!r) return;
    if (r === ROTATED) return toBerthd();
    if (Buffer.isBuffer(r)) {
      try {
        sock.send(r, rinfo.port, rinfo.address);
      } catch {
        /* the socket closed while answering (network removed) */
      }
      return;
    }
    toBerthd();
  });
}

process.on('message', (m: ToWorker, handle: unknown) => {
  if (m.t === 'stale') {
    latestSeq = Math.max(latestSeq, m.seq);
    send({ t: 'stale', seq: m.seq });
  } else if (m.t === 'view') {
    apply(m.delta);
    view = views.view(state, m.delta.hostServices, m.delta.opts);
    viewSeq = m.seq;
    latestSeq = Math.max(latestSeq, m.seq);
    send({ t: 'view', seq: m.seq });
  } else if (m.t === 'listen' && handle) {
    serve(m.ip, handle as dgram.Socket);
  } else if (m.t === 'counts') {
    send({ t: 'counts', counts });
  } else if (m.t === 'unlisten') {
    const sock = sockets.get(m.ip);
    sockets.delete(m.ip);
    if (!sock) return send({ t: 'unlistened', ip: m.ip });
    sock.close(() => send({ t: 'unlistened', ip: m.ip }));
  }
});
process.on('disconnect', () => process.exit(0));

function apply(d: ViewDelta): void {
  if (d.rest !== undefined) state = { ...(JSON.parse(d.rest) as Omit<BerthState, 'sandboxes'>), sandboxes: state.sandboxes };
  for (const [id, text] of d.put) state.sandboxes[id] = JSON.parse(text) as BerthState['sandboxes'][string];
  for (const id of d.del) delete state.sandboxes[id];
}
send({ t: 'ready' });
