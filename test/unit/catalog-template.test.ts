import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogTemplate, emptiedBackends } from '../../src/catalog/template.js';
import { parseTemplateSpec, parseWait, splitCommand } from '../../src/catalog/template-spec.js';

const entry = (id: string, ip: string, status: 'passing' | 'critical', tags: string[] = []) => ({
  Node: { Node: 'h1', Address: '192.0.2.1' },
  Service: { ID: id, Service: 'web', Address: ip, Port: 8080, Tags: tags, Meta: {} },
  Checks: [{ Status: 'passing' }, { Status: status }],
});

const HAPROXY = `backend be_web
    balance roundrobin
{{#each (service "web")}}    server {{ID}} {{Address}}:{{Port}} check
{{else}}    # no healthy instance
{{/each}}`;

test('template: healthy instances only by default; loops, else, status="any", tag=', () => {
  const t = new CatalogTemplate(HAPROXY);
  const first = t.render(new Map());
  assert.deepEqual([...first.missing], ['health:web'], 'data not fetched yet: the render is incomplete');
  const data = new Map([['health:web', [entry('web.1', '10.0.0.2', 'passing'), entry('web.2', '10.0.0.3', 'critical'), entry('web.3', '', 'passing', ['canary'])]]]);
  const r = t.render(data);
  assert.equal(r.missing.size, 0);
  assert.equal(r.text, 'backend be_web\n    balance roundrobin\n    server web.1 10.0.0.2:8080 check\n    server web.3 192.0.2.1:8080 check\n');
  assert.deepEqual([...r.counts], [['web|passing|', 2]]);
  const any = new CatalogTemplate('{{#each (service "web" status="any")}}{{ID}}={{Status}} {{/each}}|{{#each (service "web" tag="canary")}}{{ID}}{{/each}}|{{len (service "web")}}');
  assert.equal(any.render(data).text, 'web.1=passing web.2=critical web.3=passing |web.3|2');
  const services = new CatalogTemplate('{{#each (services)}}{{Name}}:{{join Tags ","}};{{/each}}');
  assert.equal(services.render(new Map([['services', { web: ['a', 'b'], db: [] }]])).text, 'db:;web:a,b;');
  // No HTML escaping: the output is configuration.
  assert.equal(new CatalogTemplate('{{#each (service "web")}}{{Meta.x}}{{/each}}').render(new Map([['health:web', [{ ...entry('a', '1.1.1.1', 'passing'), Service: { ...entry('a', '1.1.1.1', 'passing').Service, Meta: { x: '<&>' } } }]]])).text, '<&>');
});

test('template: syntax errors are reported at start with the file name', () => {
  assert.throws(() => new CatalogTemplate('{{#each (service "web")}}', 'web.hbs'), /web\.hbs/);
});

test('template: a render that empties a back-end that had servers is detected', () => {
  assert.deepEqual(emptiedBackends(undefined, new Map([['web|passing|', 0]])), [], 'the first render may be empty');
  assert.deepEqual(emptiedBackends(new Map([['web|passing|', 2]]), new Map([['web|passing|', 0]])), ['web']);
  assert.deepEqual(emptiedBackends(new Map([['web|passing|', 2]]), new Map([['web|passing|', 1]])), []);
  assert.deepEqual(emptiedBackends(new Map([['web|passing|', 0]]), new Map([['web|passing|', 0]])), []);
});

test('template flags: SRC:DEST[:COMMAND], --wait MIN[:MAX]', () => {
  assert.deepEqual(parseTemplateSpec('a.hbs:/etc/haproxy/haproxy.cfg'), { source: 'a.hbs', dest: '/etc/haproxy/haproxy.cfg', command: [] });
  assert.deepEqual(parseTemplateSpec('a.hbs:/out:touch "/tmp/a b" x:y'), { source: 'a.hbs', dest: '/out', command: ['touch', '/tmp/a b', 'x:y'] });
  assert.throws(() => parseTemplateSpec('a.hbs'), /SRC:DEST/);
  assert.deepEqual(parseWait('2s:10s'), { minMs: 2000, maxMs: 10_000 });
  assert.deepEqual(parseWait('500ms'), { minMs: 500, maxMs: 2000 });
  assert.throws(() => parseWait('10s:2s'), /MAX/);
  assert.throws(() => parseWait('soon'), /--wait/);
});

test('command: split like a shell splits words, shell syntax refused unless sh -c is given', () => {
  assert.deepEqual(splitCommand(`haproxy -c -f '/etc/my cfg' --x="a \\"b\\"" c\\ d`), ['haproxy', '-c', '-f', '/etc/my cfg', '--x=a "b"', 'c d']);
  assert.deepEqual(splitCommand(`sh -c 'haproxy -c -f x && kill -USR2 $(cat pid)'`), ['sh', '-c', 'haproxy -c -f x && kill -USR2 $(cat pid)']);
  for (const bad of ['a && b', 'a | b', 'a; b', 'a > f', 'echo $HOME', 'echo `id`', 'echo "$(id)"', "echo 'unterminated"]) {
    assert.throws(() => splitCommand(bad), /sh -c|unterminated/, bad);
  }
});
