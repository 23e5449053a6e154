// berthd's configuration: daemon.json keys (Docker's names), flags over the file, and the message
// an unknown or wrongly typed key gets. e2e 125 restarts a live berthd with a file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDaemonArgs } from '../../src/daemon/config.js';
import { parseDaemonJson } from '../../src/daemon/config-file.js';

function withFile(body: string): string {
  const p = join(mkdtempSync(join(tmpdir(), 'berth-cfg-')), 'daemon.json');
  writeFileSync(p, body);
  return p;
}

test('daemon.json keys set the configuration', () => {
  const p = withFile(JSON.stringify({
    icc: false, 'ip-masq': false, iptables: false, bip: '10.9.0.1/24', ip: '127.0.0.1', mtu: 1400,
    dns: ['192.0.2.53'], 'dns-search': ['example.test'], 'default-address-pools': [{ base: '10.10.0.0/16', size: 24 }],
    'data-root': '/tmp/x-data', 'exec-root': '/tmp/x-exec', 'log-level': 'debug',
  }));
  const c = parseDaemonArgs(['--config-file', p]);
  assert.equal(c.icc, false);
  assert.equal(c.ipMasq, false);
  assert.equal(c.firewall, 'none');
  assert.equal(c.bip, '10.9.0.1/24');
  assert.equal(c.defaultBindIp, '127.0.0.1');
  assert.equal(c.mtu, 1400);
  assert.deepEqual(c.dns, ['192.0.2.53']);
  assert.deepEqual(c.dnsSearch, ['example.test']);
  assert.deepEqual(c.pools, [{ base: '10.10.0.0/16', size: 24 }]);
  assert.equal(c.dataRoot, '/tmp/x-data');
  assert.equal(c.socket, '/tmp/x-exec/berth.sock');
  assert.equal(c.logLevel, 'debug');
});

test('flags override the file; Docker flag spellings are accepted', () => {
  const p = withFile('{"icc": false, "ip": "127.0.0.1", "mtu": 1400}');
  const c = parseDaemonArgs(['--config-file', p, '--icc=true', '--ip', '10.0.0.1', '--iptables=false']);
  assert.equal(c.icc, true);
  assert.equal(c.defaultBindIp, '10.0.0.1');
  assert.equal(c.mtu, 1400);
  assert.equal(c.firewall, 'none');
  assert.equal(parseDaemonArgs(['--config-file', p, '--ip-masq=false', '--icc']).ipMasq, false);
  assert.equal(parseDaemonArgs(['--config-file', p, '--icc']).icc, true);
});

test('an absent default file is fine; an absent named file is an error', () => {
  assert.equal(parseDaemonArgs([]).icc, true); // /etc/berth/daemon.json absent here
  assert.throws(() => parseDaemonArgs(['--config-file', '/nonexistent/daemon.json']), /unable to configure the daemon with file \/nonexistent\/daemon.json: ENOENT/);
});

test('bad keys: unknown, wrong type, bad value, unsupported, bad JSON', () => {
  const err = (body: string) => {
    try {
      parseDaemonJson(body, '/etc/berth/daemon.json');
    } catch (e) {
      return (e as Error).message;
    }
    assert.fail(`accepted ${body}`);
  };
  assert.equal(err('{"icc": false, "bogus": 1}'), "unable to configure the daemon with file /etc/berth/daemon.json: the following directives don't match any configuration option: bogus");
  assert.equal(err('{"icc": "no"}'), 'unable to configure the daemon with file /etc/berth/daemon.json: invalid key icc: expected a boolean, got a string');
  assert.match(err('{"bip": "300.1.1.1/16"}'), /daemon.json: invalid bip: "300.1.1.1" is not an IPv4 address/);
  assert.match(err('{"fixed-cidr": "172.17.1.0/24"}'), /fixed-cidr "172.17.1.0\/24" is not supported by berth/);
  assert.match(err('{"default-address-pools": [{"base": "10.0.0.0/8", "size": 40}]}'), /size must be between 8 and 30/);
  assert.match(err('{"mtu": 12}'), /invalid key mtu: smaller than 68/);
  assert.match(err('{"icc": false,'), /daemon.json: not valid JSON/);
  assert.match(err('[1]'), /expected a JSON object/);
});

test('--dns-workers: 1 by default on 2+ CPUs, 0 turns them off, out of range is refused', () => {
  assert.equal(parseDaemonArgs([]).dnsWorkers, availableParallelism() >= 2 ? 1 : 0);
  assert.equal(parseDaemonArgs(['--dns-workers', '0']).dnsWorkers, 0);
  assert.equal(parseDaemonArgs(['--dns-workers', '3']).dnsWorkers, 3);
  for (const bad of ['9', '-1', '1.5', 'many']) assert.throws(() => parseDaemonArgs(['--dns-workers', bad]), /invalid --dns-workers/);
});
