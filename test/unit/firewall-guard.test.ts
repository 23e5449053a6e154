// The nft monitor's output parsed into transactions, and the guard's decisions: berth's own
// changes ignored, others' debounced into one check, rebuilds in quick succession spaced out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MonitorParser } from '../../src/kernel/nft-monitor.js';
import { FirewallGuard } from '../../src/daemon/firewall-guard.js';
import { tableDrift } from '../../src/plan/nft-drift.js';
import { elementsOf } from '../../src/plan/nft-ruleset.js';
import { firewallView } from '../../src/plan/firewall-view.js';
import { goldenState } from './fw-fixture.js';

/** Waits until `cond` holds (timers may be late on a loaded machine); fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('monitor output: one transaction per "new generation" line, with the PID; chunks split anywhere', () => {
  const p = new MonitorParser();
  const text =
    'delete rule inet berth filter-forward handle 9\n# new generation 7 by process 4242 (nft)\n' +
    'add chain ip filter FORWARD { type filter hook forward priority filter; policy drop; }\n# new generation 8 by process 17 (iptables)\n';
  const out = [...p.push(text.slice(0, 30)), ...p.push(text.slice(30, 101)), ...p.push(text.slice(101))];
  assert.deepEqual(out, [
    { lines: ['delete rule inet berth filter-forward handle 9'], pid: 4242, comm: 'nft' },
    { lines: ['add chain ip filter FORWARD { type filter hook forward priority filter; policy drop; }'], pid: 17, comm: 'iptables' },
  ]);
});

test('guard: berth\'s own transactions are ignored; a burst of others\' makes one check naming the first', async () => {
  const checks: string[] = [];
  const g = new FirewallGuard({ noMonitor: true, debounceMs: 20, maxWaitMs: 200, log: () => undefined, check: async (why) => (checks.push(why), []) });
  g.start();
  g.own.add(100);
  g.onTransaction({ lines: ['add element inet berth bridges { "berth0" }'], pid: 100, comm: 'nft' });
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(checks, [], 'own change: no check');
  g.onTransaction({ lines: ['delete table inet berth'], pid: 555, comm: 'nft' });
  g.onTransaction({ lines: ['add table ip filter', 'add chain ip filter FORWARD'], pid: 556, comm: 'iptables' });
  await until(() => checks.length > 0, 'the check');
  await g.idle();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(checks.length, 1);
  assert.match(checks[0]!, /^"delete table inet berth" by process 555 \(nft\), "add table ip filter" and 1 more by process 556 \(iptables\)$/);
  await g.stop();
});

test('guard: a program that keeps undoing berth\'s table gets rebuilds spaced out, and an error in the log', async () => {
  const logs: string[] = [];
  const times: number[] = [];
  const g = new FirewallGuard({
    noMonitor: true,
    debounceMs: 1,
    maxWaitMs: 5,
    log: (l, m) => logs.push(`${l} ${m}`),
    check: async () => (times.push(Date.now()), ['table inet berth is missing']),
  });
  g.start();
  for (let i = 0; i < 3; i++) {
    g.onTransaction({ lines: ['delete table inet berth'], pid: 9 });
    await until(() => times.length === i + 1, `rebuild ${i + 1}`);
    await g.idle();
  }
  assert.equal(times.length, 3);
  assert.ok(times[2]! - times[1]! >= 900, `the third rebuild waited (${times[2]! - times[1]!} ms)`);
  assert.ok(logs.some((l) => /^error firewall: berth's table keeps being changed by another program/.test(l)), logs.join('\n'));
  await g.stop();
});

test('drift: none for the table as planned; a missing chain, rule or element is named', () => {
  const view = firewallView(goldenState({ icc: true, masq: true, internal: false }));
  assert.deepEqual(tableDrift(undefined, elementsOf(view)), ['table inet berth is missing']);
  const drift = tableDrift([{ table: { name: 'berth' } }, { chain: { name: 'user-forward' } }], elementsOf(view));
  assert.ok(drift.includes('chain filter-forward is missing'), drift.join('\n'));
  assert.ok(drift.includes('set bridges is missing'), drift.join('\n'));
});

test('guard: a polled snapshot (legacy iptables) that changes leads to a check; nothing to watch stops polling', async () => {
  const checks: string[] = [];
  let snap = '-P FORWARD ACCEPT';
  let reads = 0;
  const g = new FirewallGuard({
    noMonitor: true,
    debounceMs: 1,
    log: () => undefined,
    check: async (why) => (checks.push(why), []),
    poll: { read: async () => (reads++, snap), everyMs: 10, what: 'iptables (legacy) FORWARD' },
  });
  g.start();
  await new Promise((r) => setTimeout(r, 60));
  await g.idle();
  assert.deepEqual(checks, ['first look at iptables (legacy) FORWARD'], 'the first look is checked, then no change, no check');
  snap = '-P FORWARD DROP';
  await new Promise((r) => setTimeout(r, 60));
  await g.idle();
  assert.deepEqual(checks, ['first look at iptables (legacy) FORWARD', 'iptables (legacy) FORWARD changed']);
  await g.stop();

  // A read that fails is tried again; one that says "nothing to watch" ends the polling.
  let flaky = 0;
  const f = new FirewallGuard({
    noMonitor: true,
    log: () => undefined,
    check: async () => [],
    poll: { read: async () => { flaky++; throw new Error('busy'); }, everyMs: 5, what: 'x' },
  });
  f.start();
  await new Promise((r) => setTimeout(r, 60));
  await f.stop();
  assert.ok(flaky > 2, `failed reads are retried (${flaky})`);

  let none = 0;
  const h = new FirewallGuard({ noMonitor: true, log: () => undefined, check: async () => [], poll: { read: async () => (none++, undefined), everyMs: 5, what: 'x' } });
  h.start();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(none, 1, 'one read said there is nothing to watch');
  await h.stop();
  assert.ok(reads > 3);
});
