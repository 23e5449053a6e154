// The planner: golden files for the matrix of network options, deltas, invariants.
// Regenerate the golden files with: UPDATE_GOLDEN=1 node --test dist/test/unit/nft-ruleset.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { firewallView, publishNetwork, publishTarget } from '../../src/plan/firewall-view.js';
import {
  CHAINS,
  deltaRuleset,
  elementsOf,
  fullRuleset,
  nftComment,
  removalRuleset,
  RULE_COUNT,
  USER_CHAIN,
} from '../../src/plan/nft-ruleset.js';
import { bind, goldenState, network, sandbox, stateOf } from './fw-fixture.js';
import { fixture } from './brands.js';
import { parseHostServices } from '../../src/model/host-service.js';
import type { Cidr, DomainName, Ipv4 } from '../../src/model/types.js';

const GOLDEN = fileURLToPath(new URL('../../../test/unit/golden/firewall/', import.meta.url));
const hostServices = parseHostServices(['consul.local=169.254.32.1:80->127.0.0.1:8500/tcp']);

function golden(name: string, text: string): void {
  const file = `${GOLDEN}${name}`;
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  let want: string;
  try {
    want = readFileSync(file, 'utf8');
  } catch {
    assert.fail(`missing golden file ${file}: run with UPDATE_GOLDEN=1`);
  }
  assert.equal(text, want, `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

for (const icc of [true, false]) {
  for (const masq of [true, false]) {
    for (const internal of [false, true]) {
      const name = `icc=${icc},masq=${masq},internal=${internal}.nft`;
      test(`golden ruleset ${name}`, () => {
        const view = firewallView(goldenState({ icc, masq, internal }), { hostServices });
        golden(name, fullRuleset(view));
      });
    }
  }
}

test('golden delta: the web sandbox stops (its ports and links go)', () => {
  const before = goldenState({ icc: false, masq: true, internal: false });
  const after = structuredClone(before);
  after.sandboxes['sb-web']!.endpoints = {};
  after.sandboxes['sb-web']!.ports = [];
  golden('delta,web-stops.nft', deltaRuleset(firewallView(before, { hostServices }), firewallView(after, { hostServices })));
});

test('golden reconcile over an existing table: berth\'s objects flushed, the user\'s own chains and sets untouched', () => {
  const view = firewallView(goldenState({ icc: true, masq: true, internal: false }));
  const existing = { chains: [USER_CHAIN, 'filter-forward', 'my-chain'], sets: ['bridges', 'my-set'], maps: ['published-any'] };
  const text = fullRuleset(view, { existing });
  golden('reconcile,existing.nft', text);
  assert.doesNotMatch(text, new RegExp(`(flush|delete) chain inet berth ${USER_CHAIN}\\b`));
  assert.doesNotMatch(text, /my-chain|my-set/, 'objects berth did not create are never named');
  assert.match(text, /flush chain inet berth filter-forward/);
  // Re-creating (a table of an older berth): only berth's own objects are deleted.
  const again = fullRuleset(view, { existing, recreate: true });
  golden('reconcile,existing,recreate=true.nft', again);
  assert.doesNotMatch(again, /my-chain|my-set|(flush|delete) chain inet berth user-forward/);
  assert.match(again, /delete chain inet berth filter-forward/);
  assert.match(again, /delete map inet berth published-any/);
});

test('the number of rules does not depend on the state', () => {
  const texts = [false, true].map((many) => {
    const net = network('bridge', 'berth0', '172.17.0.0/16');
    const ports = Array.from({ length: many ? 1000 : 1 }, (_, i) => bind(20000 + i, 80));
    return fullRuleset(firewallView(stateOf([net], [sandbox('web', [{ net, ip: '172.17.0.2' }], {}, ports)])));
  });
  const rules = texts.map((t) => t.split('\n').filter((l) => l.startsWith('add rule ')).length);
  assert.deepEqual(rules, [RULE_COUNT, RULE_COUNT]);
  assert.equal(RULE_COUNT, CHAINS.reduce((n, c) => n + c.rules.length, 0));
  const elems = texts.map((t) => (t.match(/ : 172\.17\.0\.2 \. 80/g) ?? []).length);
  assert.deepEqual(elems, [1, 1000]);
  // every rule has a comment
  for (const line of texts[0]!.split('\n').filter((l) => l.startsWith('add rule '))) assert.match(line, / comment "[^"]+"$/);
});

test('deltas: nothing for an unchanged view; one element for one more port; delete and add for a change', () => {
  const net = network('bridge', 'berth0', '172.17.0.0/16');
  const mk = (ports: ReturnType<typeof bind>[]) =>
    firewallView(stateOf([net], [sandbox('web', [{ net, ip: '172.17.0.2' }], {}, ports)]));
  const a = mk([bind(8080, 80)]);
  assert.equal(deltaRuleset(a, mk([bind(8080, 80)])), '');
  assert.equal(
    deltaRuleset(a, mk([bind(8080, 80), bind(8081, 81)])),
    [
      'add element inet berth published-any { tcp . 8081 comment "web: 0.0.0.0:8081/tcp -> 81" : 172.17.0.2 . 81 }',
      'add element inet berth published-targets { 172.17.0.2 . tcp . 81 comment "web: 81/tcp" }',
      '',
    ].join('\n'),
  );
  assert.equal(
    deltaRuleset(a, mk([bind(8080, 81)])),
    [
      'delete element inet berth published-any { tcp . 8080 }',
      'delete element inet berth published-targets { 172.17.0.2 . tcp . 80 }',
      'add element inet berth published-any { tcp . 8080 comment "web: 0.0.0.0:8080/tcp -> 81" : 172.17.0.2 . 81 }',
      'add element inet berth published-targets { 172.17.0.2 . tcp . 81 comment "web: 81/tcp" }',
      '',
    ].join('\n'),
  );
  // ICC off for the network: its intra-bridge verdict changes, nothing else
  const off = firewallView(stateOf([{ ...net, icc: false }], [sandbox('web', [{ net, ip: '172.17.0.2' }], {}, [bind(8080, 80)])]));
  assert.equal(
    deltaRuleset(a, off),
    'delete element inet berth intra-bridge { "berth0" . "berth0" }\nadd element inet berth intra-bridge { "berth0" . "berth0" comment "network bridge: ICC off" : goto icc-off }\n',
  );
});

test('two host ports to one sandbox port share one target element; removing one keeps it', () => {
  const net = network('bridge', 'berth0', '172.17.0.0/16');
  const mk = (ports: ReturnType<typeof bind>[]) => firewallView(stateOf([net], [sandbox('web', [{ net, ip: '172.17.0.2' }], {}, ports)]));
  const both = mk([bind(8080, 80), bind(8081, 80, 'tcp', '127.0.0.1')]);
  assert.equal(elementsOf(both).get('published-targets')!.size, 1);
  const delta = deltaRuleset(both, mk([bind(8080, 80)]));
  assert.doesNotMatch(delta, /published-targets/);
  assert.match(delta, /delete element inet berth published-addr \{ 127\.0\.0\.1 \. tcp \. 8081 \}/);
});

test('links open only on the default bridge with ICC off, to the target\'s exposed ports', () => {
  const mk = (builtin: boolean, icc: boolean) => {
    const net = network(builtin ? 'bridge' : 'user', 'berth0', '172.17.0.0/16', { icc, builtin });
    const web = sandbox('web', [{ net, ip: '172.17.0.2' }], { exposedPorts: [{ port: 80, proto: 'tcp' }], portRequests: [{ hostIp: '', hostPortStart: 0, hostPortEnd: 0, containerPortStart: 53, containerPortEnd: 53, proto: 'udp' }] });
    const client = sandbox('client', [{ net, ip: '172.17.0.3' }], { links: [{ targetId: web.id, targetName: 'web', alias: fixture<DomainName>('w') }] });
    return firewallView(stateOf([net], [web, client])).links;
  };
  assert.deepEqual(
    mk(true, false).map((l) => `${l.fromIp}>${l.toIp}:${l.port}/${l.proto}`),
    ['172.17.0.3>172.17.0.2:80/tcp', '172.17.0.3>172.17.0.2:53/udp'],
  );
  assert.deepEqual(mk(true, true), []);
  assert.deepEqual(mk(false, false), []);
});

test('published ports go to the first non-internal network; internal-only sandboxes are ignored with a warning', () => {
  const a = network('a', 'berth-a', '172.20.0.0/16', { internal: true });
  const b = network('b', 'berth-b', '172.21.0.0/16');
  const dual = sandbox('dual', [{ net: a, ip: '172.20.0.2' }, { net: b, ip: '172.21.0.2' }], {}, [bind(8080, 80)]);
  const only = sandbox('only', [{ net: a, ip: '172.20.0.3' }], {}, [bind(8081, 80)]);
  const state = stateOf([a, b], [dual, only]);
  assert.equal(publishTarget(state, dual)?.ip, '172.21.0.2');
  const view = firewallView(state);
  assert.deepEqual(view.published.map((p) => `${p.hostPort}->${p.targetIp}`), ['8080->172.21.0.2']);
  assert.deepEqual(view.warnings, ['published ports of only are ignored: it is connected only to internal networks']);
  // internal networks are never masqueraded, whatever the option says
  assert.deepEqual(view.bridges.map((x) => [x.name, x.masquerade]), [['berth-a', false], ['berth-b', true]]);
  // --ip-masq=false turns masquerade off everywhere
  assert.ok(firewallView(state, { ipMasq: false }).bridges.every((x) => !x.masquerade));
});

test('anything unsafe never reaches the ruleset text', () => {
  const bad = (o: Parameters<typeof network>[3], name = 'berth0') =>
    () => fullRuleset(firewallView(stateOf([network('bridge', name, '172.17.0.0/16', o)], [])));
  assert.throws(bad({}, 'berth0"; flush ruleset'), /refusing to put interface name/);
  assert.throws(bad({ subnet: fixture<Cidr>('172.17.0.0/16 } ; flush ruleset') }), /refusing to put subnet/);
  assert.equal(nftComment('web"; flush ruleset\n'), 'web__ flush ruleset_');
  assert.equal(nftComment('x'.repeat(300)).length, 128);
  const net = network('bridge', 'berth0', '172.17.0.0/16');
  const evil = sandbox('web', [{ net, ip: '172.17.0.2' }], {}, [{ hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 70000, containerPort: 80, proto: 'tcp' }]);
  assert.throws(() => fullRuleset(firewallView(stateOf([net], [evil]))), /refusing to put port 70000/);
});

test('removal keeps the user chain unless asked', () => {
  const existing = { chains: [USER_CHAIN, 'filter-forward', 'icc-off'], sets: ['bridges'], maps: ['published-any'] };
  const text = removalRuleset(existing);
  assert.doesNotMatch(text, new RegExp(USER_CHAIN));
  assert.match(text, /delete chain inet berth filter-forward/);
  assert.match(text, /delete map inet berth published-any/);
  assert.equal(removalRuleset(existing, { removeUserChain: true }), 'delete table inet berth\n');
  const mine = removalRuleset({ chains: [USER_CHAIN, 'my-chain', 'icc-off'], sets: ['my-set', 'bridges'], maps: [] });
  assert.doesNotMatch(mine, /my-chain|my-set/, 'a user\'s own chain and set stay');
  assert.match(mine, /delete chain inet berth icc-off/);
});

test('publishNetwork: the first non-internal bridge network the sandbox asked for (before endpoints exist)', () => {
  const a = network('a', 'berth-a', '172.20.0.0/16', { internal: true });
  const b = network('b', 'berth-b', '172.21.0.0/16', { hostBindingIpv4: '10.99.0.1' });
  const sb = sandbox('x', [{ net: a, ip: '172.20.0.2' }, { net: b, ip: '172.21.0.2' }]);
  sb.endpoints = {};
  assert.equal(publishNetwork(stateOf([a, b], [sb]), sb)?.hostBindingIpv4, '10.99.0.1');
  const only = sandbox('y', [{ net: a, ip: '172.20.0.3' }]);
  assert.equal(publishNetwork(stateOf([a, b], [only]), only), undefined);
});

test('reconcile over an existing typeof map: deleted and made again before its rule is added (nft refuses the rule otherwise)', () => {
  const view = firewallView(goldenState({ icc: true, masq: true, internal: false }));
  const text = fullRuleset(view, { existing: { chains: ['nat-prerouting'], sets: [], maps: ['service-ports', 'published-any'] } });
  const lines = text.split('\n');
  const del = lines.indexOf('delete map inet berth service-ports');
  const add = lines.findIndex((l) => l.startsWith('add map inet berth service-ports { typeof '));
  const rule = lines.findIndex((l) => l.includes('map @service-ports') && l.startsWith('add rule'));
  assert.ok(del >= 0 && del < add && add < rule, text);
  assert.ok(lines.indexOf('flush chain inet berth nat-prerouting') < del, 'the chain using it is flushed first');
  assert.ok(!lines.includes('delete map inet berth published-any'), 'a typed map is only flushed');
});
