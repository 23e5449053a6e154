import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userNdots, validateDnsOption, validateDnsSearch, validateDnsServer, validateDnsSettings } from '../../src/model/dns-options.js';

test('--dns: IP literals, canonical form; others refused with Docker message', () => {
  assert.equal(validateDnsServer('10.99.0.2'), '10.99.0.2');
  assert.equal(validateDnsServer(' 1.1.1.1 '), '1.1.1.1');
  assert.equal(validateDnsServer('2001:DB8:0::1'), '2001:db8::1');
  assert.throws(() => validateDnsServer('dns.example'), { message: 'dns.example is not an ip address' });
  assert.throws(() => validateDnsServer('127.1'), { message: '127.1 is not an ip address' });
  assert.throws(() => validateDnsServer('1.2.3.4:53'), { message: '1.2.3.4:53 is not an ip address' });
});

test('--dns-search: domains, "." allowed, garbage refused', () => {
  assert.equal(validateDnsSearch('corp.example'), 'corp.example');
  assert.equal(validateDnsSearch('corp.example.'), 'corp.example');
  assert.equal(validateDnsSearch('.'), '.');
  for (const bad of ['-bad.example', 'a..b', '1234', 'has space.example', 'x'.repeat(64) + '.example']) {
    assert.throws(() => validateDnsSearch(bad), { message: `${bad} is not a valid domain` });
  }
});

test('--dns-option: resolv.conf tokens; numbers checked; nothing that breaks the file', () => {
  for (const ok of ['ndots:2', 'timeout:1', 'attempts:3', 'rotate', 'edns0', 'single-request-reopen', 'use-vc']) {
    assert.equal(validateDnsOption(ok), ok);
  }
  assert.throws(() => validateDnsOption('ndots:x'), { message: 'invalid number for ndots option: x' });
  assert.throws(() => validateDnsOption('ndots:-1'), { message: 'invalid number for ndots option: -1' });
  assert.throws(() => validateDnsOption('rotate\nnameserver 1.2.3.4'), /invalid DNS option/);
  assert.throws(() => validateDnsOption('a b'), /invalid DNS option/);
  assert.throws(() => validateDnsOption(''), /invalid DNS option/);
});

test('settings together and the user ndots', () => {
  assert.deepEqual(validateDnsSettings({ dns: ['::1'], dnsSearch: ['a.example.'], dnsOptions: ['ndots:3'] }), {
    dns: ['::1'],
    dnsSearch: ['a.example'],
    dnsOptions: ['ndots:3'],
  });
  assert.equal(userNdots(['timeout:1']), undefined);
  assert.equal(userNdots(['ndots:1', 'ndots:4']), 4);
});
