// Values an older berth stored raw are parsed again at start; what does not parse is dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recheckSandboxValues } from '../../src/model/state-check.js';
import { sandboxResolvConf } from '../../src/plan/sandbox-files.js';
import { StateBuilder } from './dns-fixture.js';

test('a --dns-search stored with a newline is dropped at start, and cannot reach resolv.conf', () => {
  const b = new StateBuilder();
  b.sandbox({ name: 'old', nets: [{ net: 'bridge', ip: '172.17.0.2' }], dnsSearch: ['\nnameserver', 'evil.example', 'ok.example.'], dns: ['192.0.2.2', '1.2.3.4\nx'], extraHosts: ['db:10.0.0.1\n'], hostname: 'h\nx' });
  const sb = b.sb('old');
  const { notes, changed } = recheckSandboxValues(b.state);
  assert.deepEqual(changed, [sb]);
  assert.deepEqual(notes, [
    'sandbox old: dropped --dns "1.2.3.4\\nx" recorded by an older berth: it does not parse',
    'sandbox old: dropped --dns-search "\\nnameserver" recorded by an older berth: it does not parse',
    'sandbox old: dropped --hostname "h\\nx" recorded by an older berth: it does not parse',
  ]);
  assert.deepEqual(sb.config.dnsSearch, ['evil.example', 'ok.example']);
  assert.deepEqual(sb.config.dns, ['192.0.2.2']);
  assert.deepEqual(sb.config.extraHosts, ['db:10.0.0.1']); // normalised, as the API now stores it
  assert.equal(sb.config.hostname, '');
  const rc = sandboxResolvConf(b.state, sb, { resolvConf: 'nameserver 192.0.2.9\n', hostHostname: 'h', hostHosts: '' });
  assert.equal(rc, 'search evil.example ok.example\nnameserver 192.0.2.2\n');
});
