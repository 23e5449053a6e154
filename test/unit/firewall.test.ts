// Firewall against the fake runner: the commands it would run, as transcripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Firewall, FOREIGN_COMMENT } from '../../src/daemon/firewall.js';
import { fakeRunner, inNetns, Nft, type RecordedCall } from '../../src/kernel/nft.js';
import { firewallView } from '../../src/plan/firewall-view.js';
import { bind, goldenState } from './fw-fixture.js';

const view = (o = { icc: true, masq: true, internal: false }) => firewallView(goldenState(o));

/** A fake that knows whether berth's table exists and answers sysctl reads with "0". */
function fakeKernel(o: { iptablesS?: string; chains?: unknown[]; failNft?: (input: string) => boolean } = {}) {
  let table = false;
  let ipt = o.iptablesS;
  return fakeRunner((argv, input) => {
    const a = argv.join(' ');
    if (a.startsWith('sysctl -n')) return { stdout: '0\n' };
    if (a === 'iptables --version') return { stdout: 'iptables v1.8.9 (nf_tables)\n' };
    if (a === 'iptables -w -S FORWARD') return ipt === undefined ? { code: 1, stderr: 'no iptables' } : { stdout: ipt };
    const ours = `-A FORWARD -m mark --mark 0x800000/0x800000 -m comment --comment "${FOREIGN_COMMENT}" -j ACCEPT`;
    if (a.startsWith('iptables -w -I FORWARD 1 ') && ipt !== undefined) {
      ipt = ipt.replace(/^(-P FORWARD \w+\n)/, `$1${ours}\n`);
      return {};
    }
    if (a.startsWith('iptables -w -D FORWARD ') && ipt !== undefined) {
      if (!ipt.includes(ours)) return { code: 1, stderr: 'Bad rule' };
      ipt = ipt.replace(`${ours}\n`, '');
      return {};
    }
    if (a === 'nft -j list chains') return { stdout: JSON.stringify({ nftables: o.chains ?? [] }) };
    if (a.startsWith('nft -j -a list chain')) return { stdout: JSON.stringify({ nftables: [] }) };
    if (a === 'nft -j list table inet berth') {
      return table
        ? { stdout: JSON.stringify({ nftables: [{ chain: { name: 'user-forward' } }, { chain: { name: 'filter-forward' } }, { set: { name: 'bridges' } }] }) }
        : { code: 1, stderr: 'No such file or directory' };
    }
    if (a === 'nft -f -') {
      if (o.failNft?.(input ?? '')) return { code: 1, stderr: 'Error: Could not process rule: File exists' };
      table = true;
      return {};
    }
    return {};
  });
}

const commands = (calls: RecordedCall[]) => calls.map((c) => c.argv.join(' '));

test('reconcile: sysctls, then the whole table in one nft -f, then a look at other firewalls', async () => {
  const runner = fakeKernel();
  const fw = new Firewall({ mode: 'nftables' }, runner);
  await fw.reconcile(view());
  assert.deepEqual(commands(runner.calls), [
    'sysctl -n net.ipv4.ip_forward',
    'sysctl -q -w net.ipv4.ip_forward=1',
    'sysctl -n net.bridge.bridge-nf-call-iptables',
    'sysctl -q -w net.bridge.bridge-nf-call-iptables=1',
    'sysctl -q -w net/ipv4/conf/berth0/route_localnet=1',
    'nft -j list table inet berth',
    'nft -f -',
    'iptables -w -S FORWARD',
    'iptables --version',
    'nft -j list chains',
  ]);
  const script = runner.calls.find((c) => c.argv.join(' ') === 'nft -f -')!.input!;
  assert.match(script, /^add table inet berth/m);
  assert.doesNotMatch(script, /flush chain inet berth user-forward/);
});

test('sync: one nft -f with only the delta; nothing at all when nothing changed', async () => {
  const runner = fakeKernel();
  const fw = new Firewall({ mode: 'nftables' }, runner);
  await fw.reconcile(view());
  runner.calls.length = 0;
  await fw.sync(view());
  assert.equal(runner.calls.length, 0);
  const next = goldenState({ icc: true, masq: true, internal: false });
  next.sandboxes['sb-web']!.ports.push(bind(9090, 90));
  await fw.sync(firewallView(next));
  assert.deepEqual(commands(runner.calls), ['nft -f -']);
  assert.equal(
    runner.calls[0]!.input,
    'add element inet berth published-any { tcp . 9090 comment "web: 0.0.0.0:9090/tcp -> 90" : 172.17.0.2 . 90 }\n' +
      'add element inet berth published-targets { 172.17.0.2 . tcp . 90 comment "web: 90/tcp" }\n',
  );
});

test('sync failure: throws, keeps the previous view, so a retry or rollback starts from what the kernel holds', async () => {
  let fail = false;
  const runner = fakeKernel({ failNft: () => fail });
  const fw = new Firewall({ mode: 'nftables' }, runner);
  await fw.reconcile(view());
  const before = fw.current;
  fail = true;
  await assert.rejects(fw.sync(view({ icc: false, masq: true, internal: false })), /nft refused berth's ruleset change: Error: Could not process rule/);
  assert.equal(fw.current, before);
  // the delta was tried, then the whole table: both refused
  const scripts = runner.calls.filter((c) => c.argv.join(' ') === 'nft -f -').map((c) => c.input!);
  assert.match(scripts.at(-2)!, /^delete element inet berth intra-bridge/);
  assert.match(scripts.at(-1)!, /^add table inet berth/m);
  fail = false;
  runner.calls.length = 0;
  await fw.sync(before!);
  assert.deepEqual(runner.calls, [], 'rolling back to the applied view is a no-op');
});

test('firewall=none: no rules, no nft transaction when berth has no table, ports still in the view', async () => {
  const runner = fakeKernel();
  const fw = new Firewall({ mode: 'none' }, runner);
  await fw.reconcile(view());
  await fw.sync(view({ icc: false, masq: true, internal: false }));
  assert.ok(!commands(runner.calls).includes('nft -f -'));
  assert.ok(!commands(runner.calls).some((c) => c.includes('bridge-nf-call') || c.includes('route_localnet')));
  assert.equal(fw.current?.published.length, 3);
  assert.match(await fw.rules(), /firewall=none/);
});

test('an iptables FORWARD DROP policy gets one marked accept rule, logged; cleanup removes it', async () => {
  const logs: string[] = [];
  const runner = fakeKernel({ iptablesS: '-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n' });
  const fw = new Firewall({ mode: 'nftables' }, runner, (level, msg) => logs.push(`${level}: ${msg}`));
  await fw.reconcile(view());
  const insert = runner.calls.find((c) => c.argv[0] === 'iptables' && c.argv.includes('-I'));
  assert.deepEqual(insert?.argv, [
    'iptables', '-w', '-I', 'FORWARD', '1', '-m', 'mark', '--mark', '0x800000/0x800000', '-m', 'comment', '--comment', FOREIGN_COMMENT, '-j', 'ACCEPT',
  ]);
  assert.ok(logs.some((l) => l.startsWith('warn: iptables FORWARD drops forwarded traffic')), logs.join('\n'));
  assert.deepEqual(fw.foreignRules, [{ kind: 'iptables', where: 'FORWARD' }]);
  // a second start finds the rule by its comment and does not insert another one
  runner.calls.length = 0;
  await fw.reconcile(view());
  assert.equal(runner.calls.filter((c) => c.argv.includes('-I')).length, 0);
  // cleanup deletes exactly that rule and leaves the policy alone
  runner.calls.length = 0;
  await fw.cleanup();
  const ipt = runner.calls.filter((c) => c.argv[0] === 'iptables').map((c) => c.argv.slice(0, 4).join(' '));
  assert.deepEqual(ipt, ['iptables -w -S FORWARD', 'iptables -w -D FORWARD']);
  assert.ok(!runner.calls.some((c) => c.argv.includes('-P')));
  assert.deepEqual(fw.foreignRules, []);
});

test('no iptables and no nft on the host: reconcile in none mode still works; nftables mode says nft is missing', async () => {
  const missing = fakeRunner((argv) => {
    if (argv[0] === 'nft' || argv[0] === 'iptables') throw new Error(`cannot run ${argv[0]}: spawn ${argv[0]} ENOENT`);
    return argv[0] === 'sysctl' && argv[1] === '-n' ? { stdout: '1\n' } : {};
  });
  await new Firewall({ mode: 'none' }, missing).reconcile(view());
  await assert.rejects(new Firewall({ mode: 'nftables' }, missing).reconcile(view()), /cannot run nft/);
});

test('an nft forward chain with policy drop (not iptables\') gets the rule too; ours and iptables\' are skipped', async () => {
  const chains = [
    { chain: { family: 'inet', table: 'filter', name: 'forward', hook: 'forward', prio: 0, policy: 'drop' } },
    { chain: { family: 'ip', table: 'filter', name: 'FORWARD', hook: 'forward', prio: 0, policy: 'drop' } },
    { chain: { family: 'inet', table: 'berth', name: 'filter-forward', hook: 'forward', prio: -10, policy: 'accept' } },
    { chain: { family: 'inet', table: 'x', name: 'in', hook: 'input', prio: 0, policy: 'drop' } },
  ];
  const runner = fakeKernel({ chains });
  const fw = new Firewall({ mode: 'nftables' }, runner);
  await fw.reconcile(view());
  const inserts = runner.calls.filter((c) => c.input?.startsWith('insert rule')).map((c) => c.input);
  assert.deepEqual(inserts, [`insert rule inet filter forward meta mark & 0x00800000 == 0x00800000 accept comment "${FOREIGN_COMMENT}"\n`]);
});

test('commands for another namespace go through nsenter; bad paths are refused', async () => {
  assert.deepEqual(inNetns('/run/netns/fw1-h', ['nft', '-f', '-']), ['nsenter', '--net=/run/netns/fw1-h', '--', 'nft', '-f', '-']);
  assert.throws(() => inNetns('/run/netns/../x', ['nft']), /invalid network namespace path/);
  assert.throws(() => inNetns('relative', ['nft']), /invalid network namespace path/);
  const runner = fakeRunner();
  await new Nft(runner, '/run/netns/fw1-h').apply('add table inet berth\n');
  assert.deepEqual(runner.calls, [{ argv: ['nsenter', '--net=/run/netns/fw1-h', '--', 'nft', '-f', '-'], input: 'add table inet berth\n' }]);
});
