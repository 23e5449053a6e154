// The rules berth puts into other firewalls: exact text, and names that never reach nft unchecked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chainRef,
  foreignDeleteNft,
  foreignInsertNft,
  iptablesForwardDrops,
  iptablesOwnRules,
  isForeignForwardChain,
  IPT_RULE,
} from '../../src/plan/foreign-rules.js';

const own = { family: 'inet', table: 'berth' };

test('nft: insert and delete text for another table\'s forward chain', () => {
  const c = { family: 'inet', table: 'other', name: 'fdrop', hook: 'forward', policy: 'drop' };
  assert.equal(foreignInsertNft(c), 'insert rule inet other fdrop meta mark & 0x00800000 == 0x00800000 accept comment "berth: accept traffic that berth accepted"\n');
  assert.equal(foreignDeleteNft(c, [4, 9]), 'delete rule inet other fdrop handle 4\ndelete rule inet other fdrop handle 9\n');
  assert.throws(() => foreignDeleteNft(c, [0]), /refusing to delete rule handle 0/);
  assert.throws(() => chainRef({ family: 'inet', table: 'x; flush ruleset', name: 'c' }), /refusing to write chain/);
});

test('which chains are another firewall\'s forward chains', () => {
  assert.equal(isForeignForwardChain({ family: 'ip', table: 'filter', name: 'FORWARD', hook: 'forward' }, own), true);
  assert.equal(isForeignForwardChain({ family: 'inet', table: 'berth', name: 'filter-forward', hook: 'forward' }, own), false, 'not berth\'s own');
  assert.equal(isForeignForwardChain({ family: 'ip', table: 'filter', name: 'INPUT', hook: 'input' }, own), false);
  assert.equal(isForeignForwardChain({ family: 'bridge', table: 'b', name: 'f', hook: 'forward' }, own), false);
  assert.equal(isForeignForwardChain({ family: 'ip', table: 'we ird', name: 'f', hook: 'forward' }, own), false);
});

test('iptables: a DROP policy or a last catch-all drop means berth\'s rule is needed; berth\'s own rules are counted', () => {
  const ours = `-A FORWARD ${IPT_RULE.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`;
  assert.equal(iptablesForwardDrops(['-P FORWARD DROP']), true);
  assert.equal(iptablesForwardDrops(['-P FORWARD ACCEPT', '-A FORWARD -j DOCKER-USER', '-A FORWARD -j REJECT --reject-with icmp-host-prohibited']), true);
  assert.equal(iptablesForwardDrops(['-P FORWARD ACCEPT', '-A FORWARD -j DROP', '-A FORWARD -s 10.0.0.1/32 -j ACCEPT']), false);
  assert.equal(iptablesForwardDrops(['-P FORWARD ACCEPT', ours]), false);
  assert.equal(iptablesOwnRules(['-P FORWARD DROP', ours, ours]), 2);
});
