import { parseIpv4 } from '../../src/model/net-values.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolverAddress, sandboxFiles, sandboxLinkEnv, sandboxesLinkingTo, type HostFacts } from '../../src/plan/sandbox-files.js';
import { filterHostResolvConf, parseResolvConf, buildResolvConf, onlyResolvedStub } from '../../src/model/resolv-conf.js';
import { parseHostServices } from '../../src/model/host-service.js';
import { StateBuilder, net } from './dns-fixture.js';
import { fixture } from './brands.js';
import type { DomainName } from '../../src/model/types.js';

const STD = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
].join('\n');

const HOST: HostFacts = {
  resolvConf: '# lab resolver\nsearch lab.example\nnameserver 10.99.0.2\nnameserver 127.0.0.1\noptions edns0\n',
  hostHostname: 'vm',
  hostHosts: '127.0.0.1\tlocalhost\n10.99.0.1\tvm\n',
};

function world(): StateBuilder {
  const b = new StateBuilder();
  b.network(net('my-net', { subnet: '172.18.0.0/16', gateway: '172.18.0.1' }));
  b.network(net('other', { subnet: '172.19.0.0/16', gateway: '172.19.0.1' }));
  return b;
}

test('hosts: --add-host entries in order, duplicates kept, host-gateway = default bridge gateway, own line last (oracle §3 i)', () => {
  const b = world().sandbox({
    name: 'bd',
    nets: [{ net: 'bridge', ip: '172.17.0.2' }],
    extraHosts: ['consul.local:169.254.32.1', 'multi:10.0.0.1', 'multi:10.0.0.2', 'host.docker.internal:host-gateway', 'bad'],
  });
  const sb = b.sb('bd');
  const f = sandboxFiles(b.state, sb, HOST);
  assert.equal(
    f.hosts,
    `${STD}\n169.254.32.1\tconsul.local\n10.0.0.1\tmulti\n10.0.0.2\tmulti\n172.17.0.1\thost.docker.internal\n172.17.0.2\t${sb.id.slice(0, 12)}\n`,
  );
  assert.equal(f.hostname, sb.id.slice(0, 12) + '\n');
  // default bridge: the host's resolvers minus loopback, text kept
  assert.equal(f.resolvConf, '# lab resolver\nsearch lab.example\nnameserver 10.99.0.2\noptions edns0\n');
});

test('hosts: host-gateway on a user network is that network\'s gateway', () => {
  const b = world().sandbox({ name: 'u', nets: [{ net: 'my-net', ip: '172.18.0.5' }], extraHosts: ['host.internal:host-gateway'] });
  assert.match(sandboxFiles(b.state, b.sb('u'), HOST).hosts, /\n172\.18\.0\.1\thost\.internal\n/);
});

test('hosts: links on the default bridge "IP alias hostname [name]", then own entry (oracle §3 d)', () => {
  const b = world()
    .sandbox({ name: 'web', nets: [{ net: 'bridge', ip: '172.17.0.2' }] })
    .sandbox({ name: 'db', nets: [{ net: 'bridge', ip: '172.17.0.3' }], hostname: 'dbhost' })
    .sandbox({ name: 'gone', nets: [], status: 'exited' });
  b.sandbox({
    name: 'client',
    nets: [{ net: 'bridge', ip: '172.17.0.4' }],
    links: [
      { target: 'web', alias: fixture<DomainName>('webalias') },
      { target: 'db', alias: fixture<DomainName>('db') },
      { target: 'gone', alias: fixture<DomainName>('g') },
    ],
  });
  const web = b.sb('web');
  const client = b.sb('client');
  assert.equal(
    sandboxFiles(b.state, client, HOST).hosts,
    `${STD}\n172.17.0.2\twebalias ${web.id.slice(0, 12)} web\n172.17.0.3\tdb dbhost\n172.17.0.4\t${client.id.slice(0, 12)}\n`,
  );
  assert.deepEqual(sandboxesLinkingTo(b.state, web.id).map((s) => s.name), ['client']);
  assert.deepEqual(sandboxesLinkingTo(b.state, client.id), []);
  // the linked-to sandbox's own file is unchanged
  assert.equal(sandboxFiles(b.state, web, HOST).hosts, `${STD}\n172.17.0.2\t${web.id.slice(0, 12)}\n`);
});

test('hosts: links on a user network give no hosts lines and no env (DNS alias only)', () => {
  const b = world()
    .sandbox({ name: 'lweb', nets: [{ net: 'my-net', ip: '172.18.0.2' }], exposed: [{ port: 80, proto: 'tcp' }] })
    .sandbox({ name: 'lc', nets: [{ net: 'my-net', ip: '172.18.0.3', links: ['lweb:lalias'] }] });
  b.sb('lc').config.links.push({ targetId: b.sbId('lweb'), targetName: 'lweb', alias: fixture<DomainName>('lalias') });
  const lc = b.sb('lc');
  assert.equal(sandboxFiles(b.state, lc, HOST).hosts, `${STD}\n172.18.0.3\t${lc.id.slice(0, 12)}\n`);
  assert.deepEqual(sandboxLinkEnv(b.state, lc), []);
});

test('link env for a default-bridge sandbox (scenario S15)', () => {
  const b = world()
    .sandbox({ name: 'web2', nets: [{ net: 'bridge', ip: '172.17.0.2' }], exposed: [{ port: 80, proto: 'tcp' }], env: ['A=1'] })
    .sandbox({ name: 'c', nets: [{ net: 'bridge', ip: '172.17.0.3' }], links: [{ target: 'web2', alias: fixture<DomainName>('ng2') }] });
  assert.deepEqual(sandboxLinkEnv(b.state, b.sb('c')), [
    'NG2_PORT=tcp://172.17.0.2:80',
    'NG2_PORT_80_TCP=tcp://172.17.0.2:80',
    'NG2_PORT_80_TCP_ADDR=172.17.0.2',
    'NG2_PORT_80_TCP_PORT=80',
    'NG2_PORT_80_TCP_PROTO=tcp',
    'NG2_NAME=/c/ng2',
    'NG2_ENV_A=1',
  ]);
});

test('user network: own line only, resolv.conf points at the gateway with ndots:0 (oracle §3 b)', () => {
  const b = world().sandbox({ name: 'b2', nets: [{ net: 'my-net', ip: '172.18.0.3' }] });
  const sb = b.sb('b2');
  const f = sandboxFiles(b.state, sb, HOST);
  assert.equal(f.hosts, `${STD}\n172.18.0.3\t${sb.id.slice(0, 12)}\n`);
  assert.equal(f.resolvConf, 'search lab.example\nnameserver 172.18.0.1\noptions edns0 ndots:0\n');
  assert.equal(resolverAddress(b.state, sb), '172.18.0.1');
});

test('user network with --dns/--dns-search/--dns-option (oracle §3 k)', () => {
  const b = world().sandbox({
    name: 'k',
    nets: [{ net: 'my-net', ip: '172.18.0.4' }],
    dns: ['10.99.0.2'],
    dnsSearch: ['corp.example'],
    dnsOptions: ['timeout:2'],
  });
  assert.equal(sandboxFiles(b.state, b.sb('k'), HOST).resolvConf, 'search corp.example\nnameserver 172.18.0.1\noptions timeout:2 ndots:0\n');
  const b2 = world().sandbox({ name: 'k2', nets: [{ net: 'my-net', ip: '172.18.0.4' }], dnsOptions: ['ndots:3'], dnsSearch: ['.'] });
  assert.equal(sandboxFiles(b2.state, b2.sb('k2'), HOST).resolvConf, 'nameserver 172.18.0.1\noptions ndots:3\n');
});

test('two networks: resolver is the first DNS network in interface order; one own line per address', () => {
  const b = world().sandbox({
    name: 'multi',
    nets: [
      { net: 'bridge', ip: '172.17.0.9' },
      { net: 'other', ip: '172.19.0.9' },
      { net: 'my-net', ip: '172.18.0.9' },
    ],
    hostname: 'app.corp.example',
  });
  const f = sandboxFiles(b.state, b.sb('multi'), HOST);
  assert.equal(resolverAddress(b.state, b.sb('multi')), '172.19.0.1');
  assert.match(f.resolvConf, /^nameserver 172\.19\.0\.1$/m);
  assert.ok(
    f.hosts.endsWith(
      '172.17.0.9\tapp.corp.example app\n172.19.0.9\tapp.corp.example app\n172.18.0.9\tapp.corp.example app\n',
    ),
  );
  assert.equal(f.hostname, 'app.corp.example\n');
});

test('default bridge with --dns: written straight into resolv.conf (oracle §3 k)', () => {
  const b = world().sandbox({ name: 'd', nets: [{ net: 'bridge', ip: '172.17.0.5' }], dns: ['10.99.0.2', '10.99.0.3'] });
  assert.equal(sandboxFiles(b.state, b.sb('d'), HOST).resolvConf, 'search lab.example\nnameserver 10.99.0.2\nnameserver 10.99.0.3\noptions edns0\n');
});

test('host services: "IP name" lines before the own line, on bridged sandboxes only', () => {
  const hostServices = parseHostServices(['consul.local=169.254.32.1:80->8500', 'consul.local=169.254.32.1:8300->8300', 'vault.local=169.254.32.2:80->8200']);
  const host = { ...HOST, hostServices };
  const b = world()
    .sandbox({ name: 'h', nets: [{ net: 'my-net', ip: '172.18.0.7' }], extraHosts: ['x:10.1.1.1'] })
    .sandbox({ name: 'n', mode: 'none' });
  const sb = b.sb('h');
  assert.equal(
    sandboxFiles(b.state, sb, host).hosts,
    `${STD}\n10.1.1.1\tx\n169.254.32.1\tconsul.local\n169.254.32.2\tvault.local\n172.18.0.7\t${sb.id.slice(0, 12)}\n`,
  );
  assert.equal(sandboxFiles(b.state, b.sb('n'), host).hosts, STD + '\n');
});

test('none: 6 standard lines plus extras, no own entry; host resolvers filtered (oracle §3 j)', () => {
  const b = world().sandbox({ name: 'n', mode: 'none', extraHosts: ['gw:host-gateway'] });
  const f = sandboxFiles(b.state, b.sb('n'), HOST);
  assert.equal(f.hosts, `${STD}\n172.17.0.1\tgw\n`);
  assert.doesNotMatch(f.resolvConf, /127\.0\.0\.1/);
});

test('host mode: copies of the host files; --add-host builds Docker\'s fresh file', () => {
  const b = world().sandbox({ name: 'h1', mode: 'host' }).sandbox({ name: 'h2', mode: 'host', extraHosts: ['a:1.2.3.4', 'gw:host-gateway'], hostname: '' });
  const f1 = sandboxFiles(b.state, b.sb('h1'), HOST);
  assert.deepEqual(f1, { hosts: HOST.hostHosts, resolvConf: HOST.resolvConf, hostname: 'vm\n' });
  assert.equal(sandboxFiles(b.state, b.sb('h2'), HOST).hosts, `${STD}\n1.2.3.4\ta\n172.17.0.1\tgw\n`);
});

test('container:X mode: X\'s files (oracle §3 j)', () => {
  const b = world().sandbox({ name: 'jbase', nets: [{ net: 'bridge', ip: '172.17.0.2' }], hostname: 'basehost' });
  b.sandbox({ name: 'jside', mode: 'container:' + b.sbId('jbase') });
  b.sandbox({ name: 'byname', mode: 'container:jbase' });
  b.sandbox({ name: 'orphan', mode: 'container:nosuch' });
  const base = sandboxFiles(b.state, b.sb('jbase'), HOST);
  assert.equal(base.hosts, `${STD}\n172.17.0.2\tbasehost\n`);
  assert.deepEqual(sandboxFiles(b.state, b.sb('jside'), HOST), base);
  assert.deepEqual(sandboxFiles(b.state, b.sb('byname'), HOST), base);
  assert.equal(sandboxFiles(b.state, b.sb('orphan'), HOST).hosts, STD + '\n');
});

test('resolv.conf helpers: parse, filter with Docker fallback, build, systemd stub detection', () => {
  assert.deepEqual(parseResolvConf('nameserver 1.1.1.1 # c\n;x\nsearch a b\nsearch c\noptions ndots:2 rotate\nnameserver ::1\n'), {
    nameservers: ['1.1.1.1', '::1'],
    search: ['c'],
    options: ['ndots:2', 'rotate'],
  });
  assert.equal(filterHostResolvConf('nameserver 127.0.0.53\noptions edns0\n'), 'nameserver 127.0.0.53\noptions edns0\n'.replace('nameserver 127.0.0.53\n', '') + 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(filterHostResolvConf('nameserver 2001:db8::53\nnameserver 9.9.9.9'), 'nameserver 9.9.9.9\n');
  assert.equal(filterHostResolvConf(''), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  assert.equal(buildResolvConf([parseIpv4('1.1.1.1')], ['.'], []), 'nameserver 1.1.1.1\n');
  assert.equal(onlyResolvedStub('nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n'), true);
  assert.equal(onlyResolvedStub('nameserver 127.0.0.53\nnameserver 10.0.0.1\n'), false);
  assert.equal(onlyResolvedStub(''), false);
});
