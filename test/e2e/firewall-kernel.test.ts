// The firewall on the real kernel, without berthd: throw-away namespaces make a "host" with berth
// bridges, sandboxes on veths and an "outside" namespace; the planner's ruleset is applied with the
// real nft through Firewall (nsenter into the host namespace), and real packets (socat) check
// every behaviour. Needs root, nft, iptables, socat.
//
//   outside (o) 10.99.0.2 --- up0 10.99.0.1  host (h)
//                                  berth0  172.17.0.1/16  s1 .2 (web), s2 .3 (links to s1), s5 .4, s4 .5
//                                  berth-b 172.18.0.1/16  s3 .2, s4 .3 (s4 is on both)
//                                  berth-i 172.19.0.1/16  internal: s6 .2, s7 .3
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Firewall } from '../../src/daemon/firewall.js';
import { run } from '../../src/kernel/exec.js';
import { Nft } from '../../src/kernel/nft.js';
import { firewallView, type FirewallView } from '../../src/plan/firewall-view.js';
import { RULE_COUNT } from '../../src/plan/nft-ruleset.js';
import { parseHostServices, type HostService } from '../../src/model/host-service.js';
import type { BerthState, Cidr, DomainName, IfName, Ipv4, NetworkRecord } from '../../src/model/types.js';
import { bind, network, sandbox, type Attach } from '../unit/fw-fixture.js';
import { FwNetns, sleep } from './fw-netns.js';
import { fixture } from '../unit/brands.js';

const HOST_IP = '10.99.0.1';
const OUT_IP = '10.99.0.2';
const SERVE = 'EXEC:printenv SOCAT_PEERADDR SOCAT_SOCKADDR';

// ---- the lab --------------------------------------------------------------------------------

const lab = new FwNetns();
const logs: string[] = [];
const nets = {
  bridge: network('bridge', 'berth0', '172.17.0.0/16'),
  b: network('net-b', 'berth-b', '172.18.0.0/16'),
  i: network('net-i', 'berth-i', '172.19.0.0/16', { internal: true }),
};
const SANDBOXES: Record<string, Attach[]> = {
  s1: [{ net: nets.bridge, ip: '172.17.0.2' }],
  s2: [{ net: nets.bridge, ip: '172.17.0.3' }],
  s5: [{ net: nets.bridge, ip: '172.17.0.4' }],
  s4: [
    { net: nets.bridge, ip: '172.17.0.5' },
    { net: nets.b, ip: '172.18.0.3' },
  ],
  s3: [{ net: nets.b, ip: '172.18.0.2' }],
  s6: [{ net: nets.i, ip: '172.19.0.2' }],
  s7: [{ net: nets.i, ip: '172.19.0.3' }],
};
const hostServices: HostService[] = parseHostServices(['consul.local=169.254.32.1:80->127.0.0.1:8500/tcp']);

/** The state the tests start from; each test derives its own from it. */
function baseState(): BerthState {
  const web = sandbox('s1', SANDBOXES.s1!, { exposedPorts: [{ port: 80, proto: 'tcp' }, { port: 53, proto: 'udp' }] }, [
    bind(8080, 80),
    bind(8081, 80, 'tcp', '127.0.0.1'),
    bind(8082, 53, 'udp'),
    bind(9000, 80),
    bind(9001, 81),
  ]);
  const client = sandbox('s2', SANDBOXES.s2!, {
    links: [{ targetId: web.id, targetName: 's1', alias: fixture<DomainName>('web') }],
  });
  const state: BerthState = { version: 1, networks: {}, sandboxes: {} };
  for (const n of Object.values(nets)) state.networks[n.id] = structuredClone(n);
  for (const sb of [web, client]) state.sandboxes[sb.id] = sb;
  for (const name of ['s3', 's4', 's5', 's6', 's7']) {
    const sb = sandbox(name, SANDBOXES[name]!);
    state.sandboxes[sb.id] = sb;
  }
  return state;
}

const view = (state: BerthState): FirewallView => firewallView(state, { hostServices });
const withNet = (state: BerthState, name: keyof typeof nets, o: Partial<NetworkRecord>): BerthState => {
  const s = structuredClone(state);
  Object.assign(s.networks[nets[name].id]!, o);
  return s;
};

const fw = new Firewall({ mode: 'nftables', netns: lab.path('h') }, run, (level, msg) => logs.push(`${level} ${msg}`));
const nft = new Nft(run, lab.path('h'));

/** A TCP connection from a namespace; the answer is "peer\nserver-address\n" or null when it fails. */
async function tcp(from: string, ip: string, port: number): Promise<string[] | null> {
  const r = await lab.exec(from, ['socat', '-u', `TCP4:${ip}:${port},connect-timeout=1.5`, 'STDOUT'], { timeoutMs: 5000 });
  if (r.code !== 0) return null;
  const lines = r.stdout.trim().split('\n');
  return lines.length === 2 ? lines : null;
}

async function udp(from: string, ip: string, port: number): Promise<string[] | null> {
  // socat sets no SOCAT_SOCKADDR for UDP4-RECVFROM: the answer is the peer only.
  const r = await lab.exec(from, ['socat', '-t2', '-T2', 'STDIO', `UDP4:${ip}:${port}`], { input: 'x\n', timeoutMs: 5000 });
  return r.stdout.trim() === '' ? null : r.stdout.trim().split('\n');
}

/** Asserts a TCP connection lands on `server` (its address) and returns the peer it saw. */
async function reaches(from: string, ip: string, port: number, server: string): Promise<string> {
  const got = await tcp(from, ip, port);
  assert.ok(got, `${from} -> ${ip}:${port} should connect`);
  assert.equal(got[1], server, `${from} -> ${ip}:${port} should land on ${server}`);
  return got[0]!;
}

async function blocked(from: string, ip: string, port: number): Promise<void> {
  const got = await tcp(from, ip, port);
  assert.equal(got, null, `${from} -> ${ip}:${port} should fail, got ${JSON.stringify(got)}`);
}

async function buildLab(): Promise<void> {
  for (const role of ['h', 'o', ...Object.keys(SANDBOXES)]) await lab.add(role);
  // host <-> outside
  await lab.veth('h', 'up0', 'o', 'eth0');
  await lab.must('h', ['ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', 'up0']);
  await lab.must('h', ['ip', 'link', 'set', 'up0', 'up']);
  await lab.must('o', ['ip', 'addr', 'add', `${OUT_IP}/24`, 'dev', 'eth0']);
  await lab.must('o', ['ip', 'link', 'set', 'eth0', 'up']);
  // The outside knows the way back to every sandbox subnet, so masquerade-off is observable and
  // direct (unpublished) access is really attempted.
  for (const n of Object.values(nets)) await lab.must('o', ['ip', 'route', 'add', n.subnet!, 'via', HOST_IP]);
  await lab.must('o', ['ip', 'route', 'add', '169.254.0.0/16', 'via', HOST_IP]);
  // bridges
  for (const n of Object.values(nets)) {
    await lab.must('h', ['ip', 'link', 'add', n.bridge!, 'type', 'bridge']);
    await lab.must('h', ['ip', 'addr', 'add', `${n.gateway}/16`, 'dev', n.bridge!]);
    await lab.must('h', ['ip', 'link', 'set', n.bridge!, 'up']);
  }
  // sandboxes
  for (const [name, attach] of Object.entries(SANDBOXES)) {
    for (const [i, a] of attach.entries()) {
      const hostSide = `bv${name}${i}`;
      await lab.veth('h', hostSide, name, `eth${i}`);
      await lab.must('h', ['ip', 'link', 'set', hostSide, 'master', a.net.bridge!]);
      await lab.must('h', ['ip', 'link', 'set', hostSide, 'type', 'bridge_slave', 'hairpin', 'on']);
      await lab.must('h', ['ip', 'link', 'set', hostSide, 'up']);
      await lab.must(name, ['ip', 'addr', 'add', `${a.ip}/16`, 'dev', `eth${i}`]);
      await lab.must(name, ['ip', 'link', 'set', `eth${i}`, 'up']);
    }
    await lab.must(name, ['ip', 'route', 'add', 'default', 'via', attach[0]!.net.gateway!]);
  }
  // servers: every sandbox answers on tcp 80 and 81 with "peer\nits own address"; s1 also on udp 53
  for (const name of Object.keys(SANDBOXES)) {
    for (const p of [80, 81]) lab.background(name, ['socat', `TCP4-LISTEN:${p},fork,reuseaddr`, SERVE]);
  }
  lab.background('s1', ['socat', 'UDP4-RECVFROM:53,fork', SERVE]);
  lab.background('o', ['socat', 'TCP4-LISTEN:9000,fork,reuseaddr', SERVE]);
  lab.background('h', ['socat', 'TCP4-LISTEN:8500,bind=127.0.0.1,fork,reuseaddr', SERVE]);
  // wait until every server listens
  for (let i = 0; i < 50; i++) {
    const counts = await Promise.all(
      ['s1', 's3', 's6', 'o', 'h'].map(async (n) => (await lab.exec(n, ['ss', '-Hltn'])).stdout.split('\n').filter(Boolean).length),
    );
    if (counts.every((c) => c >= 1)) break;
    await sleep(100);
  }
}

// ---- tests ----------------------------------------------------------------------------------

describe('firewall on the kernel', { concurrency: false }, () => {
  before(async () => {
    await buildLab();
    await fw.reconcile(view(baseState()));
  });

  after(async () => {
    const problems = await lab.teardown();
    assert.deepEqual(problems, [], 'teardown left things behind');
  });

  test('the table holds a fixed number of rules and berth set its sysctls', async () => {
    const counts = await nft.ruleCounts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    assert.equal(total, RULE_COUNT);
    assert.equal(counts['user-forward'], 0);
    assert.equal((await lab.must('h', ['sysctl', '-n', 'net.ipv4.ip_forward'])).trim(), '1');
    assert.equal((await lab.must('h', ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])).trim(), '1');
    for (const b of ['berth0', 'berth-b', 'berth-i']) {
      assert.equal((await lab.must('h', ['sysctl', '-n', `net/ipv4/conf/${b}/route_localnet`])).trim(), '1');
    }
    // berth touched no other table
    const tables = (await lab.must('h', ['nft', 'list', 'tables'])).trim().split('\n');
    assert.deepEqual(tables, ['table inet berth']);
  });

  test('published ports from the outside: tcp, udp, a range; the sandbox sees the client', async () => {
    assert.equal(await reaches('o', HOST_IP, 8080, '172.17.0.2'), OUT_IP);
    assert.equal(await reaches('o', HOST_IP, 9000, '172.17.0.2'), OUT_IP);
    const r81 = await tcp('o', HOST_IP, 9001);
    assert.ok(r81, '9001 -> 81 answers');
    // UDP has no handshake: under load one datagram's answer can come too late; try again before failing.
    const u = (await udp('o', HOST_IP, 8082)) ?? (await udp('o', HOST_IP, 8082)) ?? (await udp('o', HOST_IP, 8082));
    assert.ok(u, 'udp 8082 -> 53 answers');
    assert.deepEqual(u, [OUT_IP]);
    assert.equal(await udp('o', HOST_IP, 8083), null, 'an unpublished udp port gets no answer');
  });

  test('from the host itself: 127.0.0.1, the host address and the gateway; 127.0.0.1-only binding', async () => {
    await reaches('h', '127.0.0.1', 8080, '172.17.0.2');
    await reaches('h', HOST_IP, 8080, '172.17.0.2');
    await reaches('h', '172.17.0.1', 8080, '172.17.0.2');
    await reaches('h', '127.0.0.1', 8081, '172.17.0.2');
    // bound to 127.0.0.1 only: not on the host address
    await blocked('h', HOST_IP, 8081);
  });

  test('hairpin: a sandbox reaches its own published port; others reach it through host addresses', async () => {
    const self = await reaches('s1', HOST_IP, 8080, '172.17.0.2');
    assert.equal(self, '172.17.0.1', 'a sandbox reaching itself is masqueraded to its gateway');
    await reaches('s1', '172.17.0.1', 8080, '172.17.0.2');
    assert.equal(await reaches('s2', HOST_IP, 8080, '172.17.0.2'), '172.17.0.3');
    await reaches('s3', HOST_IP, 8080, '172.17.0.2'); // from another network, through the host
  });

  test('a 127.0.0.1 binding is unreachable from another host, even one routing 127.0.0.0/8 to us', async () => {
    await blocked('o', HOST_IP, 8081);
    // Make the outside send 127.0.0.0/8 to the host: drop its local route, route it via the host.
    await lab.must('o', ['sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1']);
    await lab.must('o', ['sysctl', '-q', '-w', 'net.ipv4.conf.eth0.route_localnet=1']);
    await lab.must('o', ['ip', 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local']);
    await lab.must('o', ['ip', 'route', 'del', 'local', '127.0.0.1', 'dev', 'lo', 'table', 'local']);
    await lab.must('o', ['ip', 'route', 'add', '127.0.0.0/8', 'via', HOST_IP, 'dev', 'eth0']);
    await lab.must('h', ['nft', '-f', '-'], 'table inet fwprobe {\n chain pre {\n type filter hook prerouting priority -400;\n iifname "up0" ip daddr 127.0.0.0/8 counter\n }\n}\n');
    try {
      await blocked('o', '127.0.0.1', 8081);
      await blocked('o', '127.0.0.1', 8080);
      const probe = await lab.must('h', ['nft', 'list', 'chain', 'inet', 'fwprobe', 'pre']);
      const packets = Number(/counter packets (\d+)/.exec(probe)?.[1] ?? 0);
      assert.ok(packets > 0, 'the packets to 127.0.0.1 did arrive at the host (so the test can fail)');
    } finally {
      await lab.must('h', ['nft', 'delete', 'table', 'inet', 'fwprobe']);
      await lab.must('o', ['ip', 'route', 'del', '127.0.0.0/8', 'via', HOST_IP]);
      for (const dst of ['127.0.0.1', '127.0.0.0/8']) {
        await lab.must('o', ['ip', 'route', 'add', 'local', dst, 'dev', 'lo', 'table', 'local', 'proto', 'kernel', 'scope', 'host', 'src', '127.0.0.1']);
      }
    }
  });

  test('unpublished sandbox ports are not reachable from the outside, even routed directly', async () => {
    await blocked('o', '172.17.0.2', 81);
    await blocked('o', '172.18.0.2', 80);
  });

  test('ICC on: sandboxes of one network reach each other on any port', async () => {
    assert.equal(await reaches('s5', '172.17.0.2', 81, '172.17.0.2'), '172.17.0.4');
    await reaches('s2', '172.17.0.2', 80, '172.17.0.2');
  });

  test('ICC off: blocked between sandboxes except links; published, outbound and host still work', async () => {
    await fw.sync(view(withNet(baseState(), 'bridge', { icc: false })));
    try {
      await blocked('s5', '172.17.0.2', 80);
      await blocked('s5', '172.17.0.2', 81);
      // s2 --link s1: s1's exposed tcp port 80 only
      assert.equal(await reaches('s2', '172.17.0.2', 80, '172.17.0.2'), '172.17.0.3');
      await blocked('s2', '172.17.0.2', 81);
      await blocked('s1', '172.17.0.3', 80); // a link opens one way
      await reaches('o', HOST_IP, 8080, '172.17.0.2');
      await reaches('s5', HOST_IP, 8080, '172.17.0.2'); // published port through the host address
      await reaches('s1', OUT_IP, 9000, OUT_IP);
      await reaches('h', '172.17.0.2', 81, '172.17.0.2');
    } finally {
      await fw.sync(view(baseState()));
    }
    await reaches('s5', '172.17.0.2', 81, '172.17.0.2');
  });

  test('two networks are isolated; a sandbox on both reaches both', async () => {
    await blocked('s1', '172.18.0.2', 80);
    await blocked('s3', '172.17.0.2', 80);
    await reaches('s4', '172.17.0.2', 80, '172.17.0.2');
    await reaches('s4', '172.18.0.2', 80, '172.18.0.2');
  });

  test('internal network: inside works; nothing leaves or enters', async () => {
    assert.equal(await reaches('s6', '172.19.0.3', 80, '172.19.0.3'), '172.19.0.2');
    await blocked('s6', OUT_IP, 9000);
    await blocked('s6', '172.17.0.2', 80);
    await blocked('s6', HOST_IP, 8080); // not even to a published port of another network
    await blocked('o', '172.19.0.2', 80);
    await blocked('s1', '172.19.0.2', 80);
  });

  test('masquerade: the outside sees the host address; with masquerade off, the sandbox address', async () => {
    assert.equal(await reaches('s1', OUT_IP, 9000, OUT_IP), HOST_IP);
    await fw.sync(view(withNet(baseState(), 'bridge', { masquerade: false })));
    try {
      assert.equal(await reaches('s1', OUT_IP, 9000, OUT_IP), '172.17.0.2');
      assert.equal(await reaches('s3', OUT_IP, 9000, OUT_IP), HOST_IP, 'other networks keep masquerade');
    } finally {
      await fw.sync(view(baseState()));
    }
    assert.equal(await reaches('s1', OUT_IP, 9000, OUT_IP), HOST_IP);
  });

  test('host service: sandboxes reach the host loopback service at its link-local address, the outside does not', async () => {
    const got = await tcp('s1', '169.254.32.1', 80);
    assert.deepEqual(got, ['172.17.0.2', '127.0.0.1']);
    await reaches('s3', '169.254.32.1', 80, '127.0.0.1');
    await blocked('o', '169.254.32.1', 80);
    await blocked('s1', '127.0.0.1', 8500); // its own loopback, nothing there
  });

  test('a user rule in user-forward takes effect first and survives a full reconcile', async () => {
    await lab.must('h', ['nft', 'add', 'rule', 'inet', 'berth', 'user-forward', 'ip', 'saddr', OUT_IP, 'ip', 'daddr', '172.17.0.2', 'tcp', 'dport', '80', 'drop']);
    try {
      await blocked('o', HOST_IP, 8080);
      await fw.reconcile(view(baseState()));
      await fw.sync(view(withNet(baseState(), 'bridge', { icc: false })));
      await fw.sync(view(baseState()));
      const chain = await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'user-forward']);
      assert.match(chain, /ip saddr 10\.99\.0\.2 ip daddr 172\.17\.0\.2 tcp dport 80 drop/);
      await blocked('o', HOST_IP, 8080);
      await reaches('s2', HOST_IP, 8080, '172.17.0.2'); // other sources still pass
    } finally {
      await lab.must('h', ['nft', 'flush', 'chain', 'inet', 'berth', 'user-forward']);
    }
    await reaches('o', HOST_IP, 8080, '172.17.0.2');
  });

  test('iptables FORWARD policy DROP: berth inserts one marked accept rule, says so, removes it on cleanup', async () => {
    await lab.must('h', ['iptables', '-w', '-P', 'FORWARD', 'DROP']);
    try {
      await blocked('o', HOST_IP, 8080); // the foreign DROP really drops berth's traffic
      logs.length = 0;
      await fw.reconcile(view(baseState()));
      assert.ok(logs.some((l) => l.startsWith('warn iptables FORWARD drops')), logs.join('\n'));
      await reaches('o', HOST_IP, 8080, '172.17.0.2');
      await reaches('s1', OUT_IP, 9000, OUT_IP);
      await blocked('s5', '172.18.0.2', 80); // still berth's isolation
      const rules = await lab.must('h', ['iptables', '-w', '-S', 'FORWARD']);
      assert.equal(rules.split('\n').filter((l) => l.includes('berth:')).length, 1, rules);
      assert.match(await fw.rules(), /iptables -I FORWARD/);
      await fw.reconcile(view(baseState())); // idempotent
      assert.equal((await lab.must('h', ['iptables', '-w', '-S', 'FORWARD'])).split('\n').filter((l) => l.includes('berth:')).length, 1);
      await fw.cleanup();
      const after = await lab.must('h', ['iptables', '-w', '-S', 'FORWARD']);
      assert.ok(!after.includes('berth:'), after);
      assert.match(after, /^-P FORWARD DROP$/m, 'the policy is left as it was');
    } finally {
      await lab.must('h', ['iptables', '-w', '-P', 'FORWARD', 'ACCEPT']);
      await fw.reconcile(view(baseState()));
    }
    await reaches('o', HOST_IP, 8080, '172.17.0.2');
  });

  test('an nft table of another owner dropping in forward gets the same treatment', async () => {
    await lab.must('h', ['nft', '-f', '-'], 'table inet fwother {\n chain fwdrop {\n type filter hook forward priority 0; policy drop;\n }\n}\n');
    try {
      await blocked('o', HOST_IP, 8080);
      await fw.reconcile(view(baseState()));
      await reaches('o', HOST_IP, 8080, '172.17.0.2');
      const chain = await lab.must('h', ['nft', 'list', 'chain', 'inet', 'fwother', 'fwdrop']);
      assert.match(chain, /meta mark & 0x00800000 == 0x00800000 accept comment "berth: /);
      assert.match(chain, /policy drop/);
      await fw.cleanup();
      assert.doesNotMatch(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'fwother', 'fwdrop']), /berth/);
    } finally {
      await lab.must('h', ['nft', 'delete', 'table', 'inet', 'fwother']);
      await fw.reconcile(view(baseState()));
    }
  });

  test('1,000 published ports: the same number of rules as 1, one element per port', async () => {
    const countRules = async (): Promise<number> => Object.values(await nft.ruleCounts()).reduce((a, b) => a + b, 0);
    const withPorts = (n: number): BerthState => {
      const s = baseState();
      const web = s.sandboxes['sb-s1']!;
      web.ports = Array.from({ length: n }, (_, i) => bind(20000 + i, i % 2 ? 81 : 80));
      return s;
    };
    await fw.sync(view(withPorts(1)));
    const one = await countRules();
    await fw.sync(view(withPorts(1000)));
    const thousand = await countRules();
    assert.equal(thousand, one);
    assert.equal(one, RULE_COUNT);
    const map = await lab.must('h', ['nft', '-j', 'list', 'map', 'inet', 'berth', 'published-any']);
    const elems = (JSON.parse(map) as { nftables: Array<{ map?: { elem?: unknown[] } }> }).nftables.find((x) => x.map)!.map!.elem!;
    assert.equal(elems.length, 1000);
    await reaches('o', HOST_IP, 20000, '172.17.0.2');
    assert.ok(await tcp('o', HOST_IP, 20999), 'the last of 1,000 ports answers');
    // one more port on top of 1,000: a one-element delta
    await fw.sync(view(withPorts(1001)));
    assert.match(fw.lastScript, /^add element inet berth published-any \{ tcp \. 21000 /m);
    assert.ok(fw.lastScript.split('\n').filter(Boolean).length <= 4, fw.lastScript);
    // time of one sync (one nft -f transaction adding or deleting one port), median of 7, at 1 and at 1,000
    const median = async (n: number): Promise<number> => {
      const views = [view(withPorts(n + 1)), view(withPorts(n))];
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t0 = process.hrtime.bigint();
        await fw.sync(views[i % 2]!); // plans the delta and runs one nft -f
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return times.sort((x, y) => x - y)[3]!;
    };
    const at1000 = await median(1000);
    await fw.sync(view(withPorts(1)));
    const at1 = await median(1);
    console.log(`# rules with 1 port: ${one}, with 1,000 ports: ${thousand}; one-port sync (nft -f delta), median of 7: ${at1.toFixed(1)} ms at 1 port, ${at1000.toFixed(1)} ms at 1,000 ports`);
    await fw.sync(view(baseState()));
  });

  test('a failed change leaves the kernel as it was and throws', async () => {
    const good = view(baseState());
    const before = await nft.listTable();
    // Two masqueraded subnets that overlap: the kernel refuses the interval set, so the whole
    // transaction (which also adds a published port) must leave no trace.
    const bad = view(baseState());
    bad.bridges.push({ name: fixture<IfName>('fwbad'), network: 'bad', subnet: fixture<Cidr>('172.17.0.0/24'), icc: true, internal: false, masquerade: true });
    bad.published.push({ hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 7000, proto: 'tcp', targetIp: fixture<Ipv4>('172.17.0.2'), targetPort: 80, sandbox: 'x' });
    await assert.rejects(fw.sync(bad), /nft refused/);
    assert.equal(await nft.listTable(), before, 'nothing of the failed change stayed');
    assert.deepEqual(fw.current, good);
    await blocked('o', HOST_IP, 7000);
    await fw.sync(good); // the caller's rollback: nothing to do
    assert.equal(fw.lastScript.includes('7000'), true, 'the last script tried was the failed one');
  });

  test('firewall=none removes berth\'s rules but keeps the user chain; cleanup removes all', async () => {
    await lab.must('h', ['nft', 'add', 'rule', 'inet', 'berth', 'user-forward', 'ip', 'saddr', '10.20.30.13', 'drop']);
    const none = new Firewall({ mode: 'none', netns: lab.path('h') }, run, () => undefined);
    await none.reconcile(view(baseState()));
    const objs = await nft.objects();
    assert.deepEqual(objs, { chains: ['user-forward'], sets: [], maps: [] });
    assert.match(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'user-forward']), /10\.20\.30\.13/);
    await fw.reconcile(view(baseState()));
    assert.match(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'user-forward']), /10\.20\.30\.13/);
    await reaches('o', HOST_IP, 8080, '172.17.0.2');
    await fw.cleanup({ removeUserChain: true });
    assert.equal(await nft.listTable(), undefined);
    // Only the iptables table this test's `iptables -P` created is left, without a trace of berth.
    assert.doesNotMatch(await lab.must('h', ['nft', 'list', 'ruleset']), /berth|0x00800000/);
  });

  test('a table left by another berth version is rebuilt in one go; the user chain and the user\'s own chain survive', async () => {
    await lab.must(
      'h',
      ['nft', '-f', '-'],
      'table inet berth {\n set bridges { type ipv4_addr; }\n chain icc-off { ip saddr @bridges drop; }\n' +
        ' chain my-chain { ip saddr 10.20.30.14 drop; }\n chain user-forward { ip saddr 10.20.30.13 drop; jump my-chain; }\n}\n',
    );
    logs.length = 0;
    await fw.reconcile(view(baseState()));
    assert.ok(logs.some((l) => l.startsWith('warn rebuilding berth')), logs.join('\n'));
    assert.match(await lab.must('h', ['nft', 'list', 'set', 'inet', 'berth', 'bridges']), /type ifname/);
    assert.match(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'icc-off']), /ICC disabled/);
    assert.match(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'user-forward']), /ip saddr 10\.20\.30\.13 drop[\s\S]*jump my-chain/);
    assert.match(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'my-chain']), /ip saddr 10\.20\.30\.14 drop/);
    await reaches('o', HOST_IP, 8080, '172.17.0.2');
    await fw.cleanup({ removeUserChain: true });
  });

  test('ownership: a user\'s chain jumped to from user-forward survives reconcile, sync and cleanup', async () => {
    await fw.reconcile(view(baseState()));
    await lab.must('h', ['nft', '-f', '-'], 'add chain inet berth mine\nadd rule inet berth mine ip saddr 10.20.30.15 drop\nadd rule inet berth user-forward jump mine\n');
    await fw.reconcile(view(baseState()));
    await fw.sync(view(withNet(baseState(), 'bridge', { icc: false })));
    await fw.sync(view(baseState()));
    assert.deepEqual(await fw.verify('test'), [], 'the user\'s chain is not drift');
    await fw.cleanup();
    assert.match(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'mine']), /ip saddr 10\.20\.30\.15 drop/, 'cleanup keeps it');
    assert.match(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'user-forward']), /jump mine/);
    await fw.reconcile(view(baseState()));
    assert.match(await lab.must('h', ['nft', 'list', 'chain', 'inet', 'berth', 'mine']), /ip saddr 10\.20\.30\.15 drop/);
    await lab.must('h', ['nft', '-f', '-'], 'flush chain inet berth user-forward\ndelete chain inet berth mine\n');
  });

  test('verify: the live table matches the plan; a deleted rule, element or table is found and rebuilt', async () => {
    await fw.reconcile(view(baseState()));
    assert.deepEqual(await fw.verify('test'), [], 'real nft output agrees with the plan');
    // One of berth's rules goes (the published-port accept in filter-forward).
    const listing = await lab.must('h', ['nft', '-a', 'list', 'chain', 'inet', 'berth', 'filter-forward']);
    const handle = /comment "published port" # handle (\d+)/.exec(listing)?.[1];
    assert.ok(handle, listing);
    await lab.must('h', ['nft', 'delete', 'rule', 'inet', 'berth', 'filter-forward', 'handle', handle]);
    await blocked('o', HOST_IP, 8080);
    logs.length = 0;
    assert.deepEqual(await fw.verify('test'), ['chain filter-forward holds 11 rules, berth wrote 12']);
    assert.ok(logs.some((l) => /changed behind berth's back \(test\): chain filter-forward holds 11 rules/.test(l)), logs.join('\n'));
    await reaches('o', HOST_IP, 8080, '172.17.0.2');
    // An element of a map goes.
    await lab.must('h', ['nft', 'delete', 'element', 'inet', 'berth', 'published-any', '{', 'tcp', '.', '8080', '}']);
    await blocked('o', HOST_IP, 8080);
    assert.deepEqual(await fw.verify('test'), ['map published-any holds 3 elements, berth wrote 4']);
    await reaches('o', HOST_IP, 8080, '172.17.0.2');
    // Everything goes.
    await lab.must('h', ['nft', 'flush', 'ruleset']);
    await blocked('o', HOST_IP, 8080);
    assert.deepEqual(await fw.verify('test'), ['table inet berth is missing']);
    await reaches('o', HOST_IP, 8080, '172.17.0.2');
    assert.deepEqual(await fw.verify('test'), []);
    await fw.cleanup({ removeUserChain: true });
  });
});
