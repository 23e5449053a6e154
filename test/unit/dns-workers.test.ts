// The embedded DNS server with a UDP worker process reading the same sockets (src/dns/udp-worker.ts),
// over real sockets on loopback: the worker answers, its answers are berthd's, a new view reaches it
// before setView returns, changes made in place reach it, names with several addresses still rotate query after query, and a killed
// worker is replaced while berthd goes on answering.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { DnsServer } from '../../src/dns/server.js';
import { dnsAddresses, dnsView, DnsViewBuilder } from '../../src/plan/dns-view.js';
import type { BerthState } from '../../src/model/types.js';
import { StateBuilder, net } from './dns-fixture.js';
import dnsPacket from 'dns-packet';
import { FakeUpstream, addrs, ask, encodeQuery, rcode } from './dns-helpers.js';

const GW = '127.41.0.1';
const A = '127.41.0.2';
const B = '127.41.0.3';
const C = '127.41.0.4';

let upstream: FakeUpstream;
let port = 0;
let server: DnsServer;

function world(bIp: string): BerthState {
  const b = new StateBuilder();
  b.network(net('wn', { subnet: '127.41.0.0/16', gateway: GW }));
  b.sandbox({ name: 'a', nets: [{ net: 'wn', ip: A }] });
  b.sandbox({ name: 'b', nets: [{ net: 'wn', ip: bIp, aliases: ['both'] }] });
  b.sandbox({ name: 'c', nets: [{ net: 'wn', ip: C, aliases: ['both'] }] });
  return b.state;
}

async function setWorld(state: BerthState): Promise<void> {
  await server.setView(dnsView(state), { state, hostServices: [], opts: {} });
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** n queries at once for `name` from A, each from its own socket (so both readers get some). */
async function burst(name: string, n: number): Promise<string[][]> {
  const rs = await Promise.all(Array.from({ length: n }, () => ask(GW, port, A, name, {})));
  return rs.map((r) => {
    assert.equal(rcode(r), 'NOERROR', `answer to ${name}`);
    return addrs(r);
  });
}

const workerCount = async (key: 'local' | 'queries'): Promise<number> => (await server.workerCounts()).reduce((n, c) => n + c[key], 0);
const workerLocal = () => workerCount('local');

/**
 * n queries for `name` sent while this process (berthd's side) is blocked for 400 ms, so the worker
 * is the only reader then; repeated until the worker has read some (a loaded machine may not run it
 * within one block). The answers, whoever gives them.
 */
async function burstToWorker(name: string, n: number): Promise<string[][]> {
  for (let attempt = 0; ; attempt++) {
    const read = await workerCount('queries');
    const socks = await Promise.all(
      Array.from({ length: n }, () => new Promise<dgram.Socket>((r) => {
        const s = dgram.createSocket('udp4');
        s.bind(0, A, () => r(s));
      })),
    );
    const answers = socks.map((s) => new Promise<string[]>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer to ${name}`)), 10_000);
      s.once('message', (m) => {
        clearTimeout(t);
        s.close();
        const p = dnsPacket.decode(m);
        assert.equal(rcode(p), 'NOERROR');
        resolve(addrs(p));
      });
    }));
    for (const s of socks) s.send(encodeQuery(name), port, GW);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
    const out = await Promise.all(answers);
    if ((await workerCount('queries')) > read || attempt >= 20) return out;
  }
}

before(async () => {
  upstream = await new FakeUpstream().start();
  for (let attempt = 0; attempt < 20; attempt++) {
    port = 20000 + Math.floor(Math.random() * 30000);
    server = new DnsServer({
      port,
      hostUpstreams: () => [{ host: '127.0.0.1', port: upstream.port }],
      forward: { attemptTimeoutMs: 300, budgetMs: 600 },
      bindRetryMs: 0,
      udpWorkers: 1,
    });
    await server.start();
    const state = world(B);
    await setWorld(state);
    const r = await server.setAddresses(dnsAddresses(state));
    if (r.failed.length === 0) break;
    await server.stop();
  }
  // The worker starts, takes the view, then the socket: wait until it has answered something.
  await until('the worker answering', async () => {
    await burst('a', 50);
    return (await workerLocal()) > 0 ? true : undefined;
  });
});

after(async () => {
  await server.stop();
  await upstream.stop();
});

test('the worker answers local names as berthd does; forwarded names come back through berthd', async () => {
  const before = await workerLocal();
  for (const a of await burst('b', 200)) assert.deepEqual(a, [B]);
  assert.ok((await workerLocal()) > before, 'some of the 200 were answered by the worker');
  // Not berth's name: the worker hands it to berthd, which forwards it to the upstream.
  assert.deepEqual(addrs(await ask(GW, port, A, 'example.com')), ['10.99.0.77']);
  assert.equal(rcode(await ask(GW, port, '127.99.0.9', 'b')), 'REFUSED', 'an unknown source is refused by either reader');
});

test('a new view is answered by every reader once setView has returned', async () => {
  const moved = '127.41.0.9';
  await setWorld(world(moved));
  for (const a of await burstToWorker('b', 50)) assert.deepEqual(a, [moved]);
  await setWorld(world(B));
  for (const a of await burstToWorker('b', 50)) assert.deepEqual(a, [B]);
});

test('the worker follows changes made in place to one state (sent as the records that changed, as berthd\'s DNS follower says)', async () => {
  const b = new StateBuilder();
  b.network(net('wn', { subnet: '127.41.0.0/16', gateway: GW }));
  b.sandbox({ name: 'a', nets: [{ net: 'wn', ip: A }] });
  b.sandbox({ name: 'b', nets: [{ net: 'wn', ip: B, aliases: ['both'] }] });
  b.sandbox({ name: 'c', nets: [{ net: 'wn', ip: C, aliases: ['both'] }] });
  // As DnsFollower does: each view with the ids its builder found changed.
  const views = new DnsViewBuilder();
  const sync = async () => {
    const view = views.view(b.state);
    const changed = views.lastChanged;
    await server.setView(view, { state: b.state, hostServices: [], opts: {}, ...(changed ? { changed } : {}) });
  };
  await sync();
  // A new sandbox, then an address edited in the same record object: the worker answers both.
  b.sandbox({ name: 'dnew', nets: [{ net: 'wn', ip: '127.41.0.7' }] });
  await sync();
  for (const a of await burstToWorker('dnew', 50)) assert.deepEqual(a, ['127.41.0.7']);
  const rec = Object.values(b.state.sandboxes).find((x) => x.name === 'dnew')!;
  Object.values(rec.endpoints)[0]!.ip = '127.41.0.8' as typeof rec.endpoints[string]['ip'];
  await sync();
  for (const a of await burstToWorker('dnew', 50)) assert.deepEqual(a, ['127.41.0.8']);
  // Renamed in place: the worker answers the new name, from the new address.
  rec.name = 'dlater' as typeof rec.name;
  await sync();
  for (const a of await burstToWorker('dlater', 50)) assert.deepEqual(a, ['127.41.0.8']);
  await setWorld(world(B));
});

test('a name with two addresses rotates on consecutive queries (one cursor, berthd\'s)', async () => {
  let previous: string | undefined;
  for (let i = 0; i < 20; i++) {
    const a = addrs(await ask(GW, port, A, 'both'));
    assert.deepEqual([...a].sort(), [B, C]);
    assert.notEqual(a[0], previous, `query ${i + 1} starts with another address than the one before`);
    previous = a[0];
  }
  // The worker hands such names to berthd instead of answering them from its own cursor.
  const local = await workerLocal();
  const firsts = (await burstToWorker('both', 20)).map((a) => a[0]);
  assert.equal(await workerLocal(), local, 'the worker answered none of them itself');
  assert.equal(firsts.filter((f) => f === B).length, 10, `one cursor: 20 queries start 10 times with each address (${firsts})`);
});

test('an address given up and taken again binds at once: the worker has closed its copy of the socket', async () => {
  assert.deepEqual((await server.setAddresses([])).listening, []);
  const again = await server.setAddresses([GW]);
  assert.deepEqual(again, { listening: [GW], failed: [] });
  await until('the worker answering again', async () => {
    const read = await workerCount('queries');
    for (const a of await burst('b', 50)) assert.deepEqual(a, [B]);
    return (await workerCount('queries')) > read ? true : undefined;
  });
});

test('a killed worker is replaced; berthd answers meanwhile; the new one has the current view', async () => {
  const [pid] = server.workerPids;
  assert.ok(pid, 'a worker runs');
  process.kill(pid, 'SIGKILL');
  for (const a of await burst('b', 50)) assert.deepEqual(a, [B]);
  const next = await until('a new worker', async () => (server.workerPids.length === 1 && server.workerPids[0] !== pid ? server.workerPids[0] : undefined));
  assert.notEqual(next, pid);
  await until('the new worker answering', async () => {
    for (const a of await burst('b', 50)) assert.deepEqual(a, [B]);
    return (await workerLocal()) > 0 ? true : undefined;
  });
});
