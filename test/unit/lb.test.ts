// The load balancer's pure parts: spec parsing, haproxy.cfg rendering (golden files), the
// runtime delta, the last-good guard, HAProxy's stats CSV and `show proc`.
// Regenerate the golden files with: UPDATE_GOLDEN=1 node --test dist/test/unit/lb.test.js
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { backendName, renderConfig, renderHostsMap, slotsFor, type RenderInput } from '../../src/lb/config.js';
import { assignSlots, EMPTY_SLOTS, slotsFromJson, slotsToJson } from '../../src/lb/slots.js';
import { keepLastGood } from '../../src/lb/last-good.js';
import { parseShowProc } from '../../src/lb/runtime-api.js';
import { mapDelta, serverDelta, serverSets, slotSets } from '../../src/lb/server-delta.js';
import { checkRoutes, parseCheck, parseRoute, parseSlots, parseStatsAuth, parseStatsUri, parseTarget } from '../../src/lb/spec.js';
import { parseStatCsv, serverRows } from '../../src/lb/stats-csv.js';

const GOLDEN = fileURLToPath(new URL('../../../test/unit/golden/lb/', import.meta.url));

function golden(name: string, text: string): void {
  const file = `${GOLDEN}${name}.cfg`;
  if (process.env['UPDATE_GOLDEN']) writeFileSync(file, text);
  if (!existsSync(file)) assert.fail(`missing golden file ${file}: run with UPDATE_GOLDEN=1`);
  assert.equal(text, readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}

const A = backendName('app', 80);
const B = backendName('api', 8080);
const base = (over: Partial<RenderInput>): RenderInput => ({
  lb: 'front',
  port: 80,
  routes: [],
  backends: [],
  check: { kind: 'tcp' },
  runDir: '/run/berth/lb/front',
  ...over,
});
const two: RenderInput['backends'] = [
  { id: A, service: 'app', port: 80, servers: [{ name: 'app.1', ip: '10.0.1.2', port: 80 }, { name: 'app.2', ip: '10.0.1.3', port: 80 }] },
  { id: B, service: 'api', port: 8080, servers: [{ name: 'api.1', ip: '10.0.1.4', port: 8080 }] },
];

test('golden haproxy.cfg: routes=2,default=none,check=http,stats=auth', () => {
  golden('routes=2,default=none,check=http,stats=auth', renderConfig(base({
    routes: [{ host: 'app.example', backend: A }, { host: 'api.example', backend: B }],
    backends: two,
    check: { kind: 'http', path: '/health' },
    stats: { uri: '/lbstats', user: 'admin', pass: 's3cret' },
  })));
});

test('golden haproxy.cfg: routes=1,default=app,check=tcp,stats=none', () => {
  golden('routes=1,default=app,check=tcp,stats=none', renderConfig(base({
    routes: [{ host: 'api.example', backend: B }],
    defaultBackend: A,
    backends: two,
  })));
});

test('golden haproxy.cfg: routes=0,default=app,empty back-end', () => {
  golden('routes=0,default=app,empty', renderConfig(base({ defaultBackend: A, backends: [{ id: A, service: 'app', port: 80, servers: [] }], stats: { uri: '/lbstats' } })));
});

test('the rendered files pass haproxy -c when HAProxy is installed', { skip: !existsSync('/usr/sbin/haproxy') }, async () => {
  const { validateConfig } = await import('../../src/lb/driver.js');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(`${tmpdir()}/berth-lb-unit-`);
  for (const [i, input] of [
    base({ routes: [{ host: 'app.example', backend: A }], backends: two, check: { kind: 'http', path: '/health' }, stats: { uri: '/lbstats', user: 'u', pass: 'p' }, runDir: dir }),
    base({ defaultBackend: A, backends: [{ id: A, service: 'app', port: 80, servers: [] }], runDir: dir }),
  ].entries()) {
    writeFileSync(`${dir}/hosts.map`, renderHostsMap(input, slotsFor(input)));
    writeFileSync(`${dir}/c${i}.cfg`, renderConfig(input));
    await validateConfig(`${dir}/c${i}.cfg`);
  }
  writeFileSync(`${dir}/bad.cfg`, renderConfig(base({ backends: two, check: { kind: 'http', path: '/a"b' }, runDir: dir })));
  await assert.rejects(validateConfig(`${dir}/bad.cfg`), /haproxy -c refused the configuration: .*quote/s);
  rmSync(`${dir}/hosts.map`);
  writeFileSync(`${dir}/nomap.cfg`, renderConfig(base({ backends: two, runDir: dir })));
  await assert.rejects(validateConfig(`${dir}/nomap.cfg`), /failed to open pattern file/);
  rmSync(dir, { recursive: true, force: true });
});

test('hosts.map: one line per route, HOST SLOT; a route to an undeclared back-end is refused', () => {
  const input = base({ routes: [{ host: 'app.example', backend: A }, { host: 'api.example', backend: B }, { host: 'www.example', backend: A }], backends: two });
  assert.equal(renderHostsMap(input, slotsFor(input)), 'app.example be_slot_0\napi.example be_slot_1\nwww.example be_slot_0\n');
  assert.throws(() => renderConfig(base({ routes: [{ host: 'x.example', backend: 'be_missing_1' }] })), /back-end be_missing_1 is routed to but not declared/);
});

test('slots: kept while in use, freed slots reused lowest first, the pool grows only when full', () => {
  const t1 = assignSlots(EMPTY_SLOTS, ['a', 'b', 'c'], 4);
  assert.deepEqual([...t1.of], [['a', 0], ['b', 1], ['c', 2]]);
  assert.equal(t1.pool, 4);
  const same = assignSlots(t1, ['c', 'd'], 4); // a and b freed in this very step: not reused yet
  assert.deepEqual([...same.of].sort(), [['c', 2], ['d', 3]]);
  const t2 = assignSlots(assignSlots(t1, ['c'], 4), ['c', 'd', 'e'], 4); // freed before: reused lowest first
  assert.deepEqual([...t2.of].sort(), [['c', 2], ['d', 0], ['e', 1]]);
  assert.equal(t2.pool, 4);
  const t3 = assignSlots(t2, ['c', 'd', 'e', 'f', 'g'], 4);
  assert.equal(t3.of.get('g'), 4);
  assert.equal(t3.pool, 8, 'grows by whole pools when full');
  assert.equal(assignSlots(t3, ['c'], 4).pool, 8, 'never shrinks');
  assert.deepEqual(slotsFromJson(slotsToJson(t3)), t3);
  assert.throws(() => slotsFromJson('{"pool":1,"slots":{"x":3}}'), /bad slot for x/);
});

test('route changes are runtime ops: servers into the new slot, map add before del, freed slot emptied', () => {
  const one = base({ routes: [{ host: 'app.example', backend: A }], backends: [two[0]!], slots: 4 });
  const both = base({ routes: [{ host: 'app.example', backend: A }, { host: 'api.example', backend: B }], backends: two, slots: 4 });
  const t1 = slotsFor(one);
  const t2 = slotsFor(both, t1);
  assert.equal(t2.pool, t1.pool, 'same pool: no reload');
  assert.deepEqual(serverDelta(slotSets(one, t1), slotSets(both, t2)), [{ op: 'add', backend: 'be_slot_1', server: two[1]!.servers[0] }]);
  const hm = (i: RenderInput, t: typeof t1) => new Map(i.routes.map((r) => [r.host, `be_slot_${t.of.get(r.backend)}`]));
  assert.deepEqual(mapDelta(hm(one, t1), hm(both, t2)), [{ op: 'add', host: 'api.example', backend: 'be_slot_1' }]);
  const t3 = slotsFor(one, t2);
  assert.deepEqual(mapDelta(hm(both, t2), hm(one, t3)), [{ op: 'del', host: 'api.example' }]);
  assert.deepEqual(serverDelta(slotSets(both, t2), slotSets(one, t3)), [{ op: 'remove', backend: 'be_slot_1', name: 'api.1' }]);
});

test('--slots: 1-1000, a bad value names the flag', () => {
  assert.equal(parseSlots('8'), 8);
  for (const bad of ['0', '1001', '-1', 'x', '3.5', '']) assert.throws(() => parseSlots(bad), /invalid --slots .*give a number of back-end slots from 1 to 1000/);
});

test('spec parsing: routes, targets, checks, stats; bad values name what to fix', () => {
  assert.deepEqual(parseRoute('App.Example.=web:8080'), { host: 'app.example', service: 'web', port: 8080 });
  assert.deepEqual(parseRoute('api.example=api'), { host: 'api.example', service: 'api', port: 0 });
  assert.deepEqual(parseTarget('web', '--default'), { service: 'web', port: 0 });
  assert.deepEqual(parseCheck('http:/health'), { kind: 'http', path: '/health' });
  assert.deepEqual(parseCheck('tcp'), { kind: 'tcp' });
  assert.equal(parseStatsUri('/lbstats'), '/lbstats');
  assert.deepEqual(parseStatsAuth('admin:pa$$'), { user: 'admin', pass: 'pa$$' });
  assert.throws(() => parseRoute('app.example'), /give HOST=SERVICE\[:PORT\]/);
  assert.throws(() => parseRoute('app.example:80=web'), /invalid host name "app.example:80"/);
  assert.throws(() => parseRoute('*.example=web'), /no wildcard/);
  assert.throws(() => parseRoute('a.example=web:99999'), /invalid port "99999"/);
  assert.throws(() => parseRoute('a.example=we b'), /give SERVICE\[:PORT\]/);
  assert.throws(() => parseCheck('http:/a b'), /give http:PATH/);
  assert.throws(() => parseCheck('udp'), /give http:PATH/);
  assert.throws(() => parseStatsUri('lbstats'), /give a path/);
  assert.throws(() => parseStatsAuth('admin:has space'), /USER:PASS/);
  assert.throws(() => parseStatsAuth('admin:"q"'), /USER:PASS/);
  assert.throws(() => checkRoutes([parseRoute('a.example=x'), parseRoute('A.example=y')]), /host a.example is routed twice/);
});

test('server delta: adds and re-addresses before removals; unknown back-ends are left to a reload', () => {
  const have = serverSets(two);
  const want = serverSets([
    { ...two[0]!, servers: [{ name: 'app.2', ip: '10.0.1.9', port: 80 }, { name: 'app.3', ip: '10.0.1.5', port: 80 }] },
    two[1]!,
    { id: 'be_new_1', service: 'new', port: 1, servers: [{ name: 'n.1', ip: '10.0.1.7', port: 1 }] },
  ]);
  assert.deepEqual(serverDelta(have, want), [
    { op: 'addr', backend: A, server: { name: 'app.2', ip: '10.0.1.9', port: 80 } },
    { op: 'add', backend: A, server: { name: 'app.3', ip: '10.0.1.5', port: 80 } },
    { op: 'remove', backend: A, name: 'app.1' },
  ]);
  assert.deepEqual(serverDelta(have, have), []);
});

test('last-good guard: an unavailable source keeps the servers; an available empty one empties', () => {
  const next = [{ ...two[0]!, servers: [] }, { ...two[1]!, servers: [] }];
  const kept = keepLastGood(two, next, new Set([A]));
  assert.deepEqual(kept[0]!.servers, two[0]!.servers);
  assert.deepEqual(kept[1]!.servers, []);
  assert.deepEqual(keepLastGood([], next, new Set([A]))[0]!.servers, [], 'nothing to keep the first time');
});

test('stats CSV by column name; show proc of HAProxy 2.6', () => {
  const csv = [
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr',
    'fe_http,FRONTEND,,,3,5,4096,10,,,,,,,,,,OPEN,,,,,,,,,1,2,0,,,,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,',
    `${A},app.1,0,0,2,3,,7,,,,,,0,0,0,0,UP,1,1,0,0,0,12,0,,1,3,1,,7,,2,,,,L7OK,200,1,,,,,,,,,,,,,,,,,,0,HTTP status check returned code <3C>200<3E>,,,,,,,,,,,,,,,,10.0.1.2:80`,
    `${A},BACKEND,0,0,2,3,,7,,,,,,,,,,UP,1,1,0,,0,12,0,,1,3,0,,7,,1,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,`,
  ].join('\n');
  const rows = parseStatCsv(csv);
  assert.equal(rows.length, 3);
  const s = serverRows(rows);
  assert.equal(s.length, 1);
  assert.equal(s[0]!.svname, 'app.1');
  assert.equal(s[0]!.scur, 2);
  assert.equal(s[0]!.status, 'UP');
  assert.equal(s[0]!.checkStatus, 'L7OK');
  assert.equal(s[0]!.checkCode, '200');
  assert.equal(s[0]!.addr, '10.0.1.2:80');
  const proc = parseShowProc([
    '#<PID>          <type>          <reloads>       <uptime>        <version>',
    '1234            master          2 [failed: 1]   0d00h01m02s     2.6.12-1',
    '# workers',
    '5678            worker          0               0d00h00m03s     2.6.12-1',
    '# old workers',
    '4321            worker          1               0d00h01m02s     2.6.12-1',
    '',
  ].join('\n'));
  assert.deepEqual(proc, { reloads: 2, failed: 1, workers: [5678] });
});

test('desired servers from state: replicas in rotation on a back-end network, ports, unknown services, the unavailable guard', async () => {
  const { serviceState, serviceRecord } = await import('./service-fixture.js');
  const { desiredInput } = await import('../../src/lb/desired.js');
  const state = serviceState();
  const rec = {
    name: 'front', created: '', sandboxId: '',
    spec: {
      networks: ['net-app'], front: 'net-bridge', published: 80, port: 80,
      routes: [{ host: 'app.example', service: 'web', port: 0 }, { host: 'x.example', service: 'nosuch', port: 81 }, { host: 'rr.example', service: 'rr', port: 0 }],
      default: { service: 'web', port: 8000 },
      check: { kind: 'tcp' as const },
    },
  } as unknown as Parameters<typeof desiredInput>[1];
  const d = desiredInput(state, rec, '/run/lb');
  const web = d.input.backends.find((b) => b.id === 'be_web_80')!;
  assert.deepEqual(web.servers, [{ name: 'web.1', ip: '10.89.0.11', port: 80 }, { name: 'web.2', ip: '10.89.0.12', port: 80 }], 'healthy replicas only, on the service target port');
  assert.deepEqual(d.input.routes, [{ host: 'app.example', backend: 'be_web_80' }, { host: 'x.example', backend: 'be_nosuch_81' }]);
  assert.equal(d.input.defaultBackend, 'be_web_8000');
  assert.deepEqual(d.input.backends.find((b) => b.id === 'be_nosuch_81')!.servers, []);
  assert.ok(d.problems.some((p) => /service nosuch not found/.test(p)));
  assert.ok(d.problems.some((p) => /service rr publishes no TCP port/.test(p)), 'rr only has a UDP port');
  assert.deepEqual([...d.unavailable], ['be_nosuch_81'], 'a service whose record is not there keeps its last servers');
  // A service that wants replicas but has none at the moment: unavailable (keep the last servers).
  state.services!['ghost'] = serviceRecord('ghost', 'ghost', { replicas: 2, ports: [{ published: 0, target: 80, proto: 'tcp' }] });
  const g = desiredInput(state, { ...rec, spec: { ...rec.spec, routes: [{ host: 'g.example', service: 'ghost', port: 0 }] } } as typeof rec, '/run/lb');
  assert.deepEqual([...g.unavailable], ['be_ghost_80']);
});
