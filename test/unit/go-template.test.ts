// The Go text/template subset behind --format: outputs and errors as Go prints them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoTemplate, renderFormat } from '../../src/cli/go-template.js';

const data = {
  Id: 'abc',
  State: { Pid: 4242, Running: true, Status: 'running' },
  Names: ['web', 'www'],
  Labels: { tier: 'front', 'com.example.x': 'y' },
  NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.2' }, app: { IPAddress: '10.0.0.2' } } },
  Empty: [],
  Nil: null,
};
const run = (t: string, d: unknown = data) => new GoTemplate(t).execute(d);

test('field paths, dot, root and missing keys', () => {
  assert.equal(run('{{.State.Pid}}'), '4242');
  assert.equal(run('pid={{ .State.Pid }} {{.State.Running}}'), 'pid=4242 true');
  assert.equal(run('{{.Names}}'), '[web www]');
  assert.equal(run('{{.Labels}}'), 'map[com.example.x:y tier:front]');
  assert.equal(run('{{.Nope}}'), '<no value>');
  assert.equal(run('{{.Nil}}'), '<nil>');
  assert.equal(run('{{.}}', 'x'), 'x');
  assert.equal(run('{{range .Names}}{{$.Id}}/{{.}} {{end}}'), 'abc/web abc/www ');
  assert.throws(() => run('{{.Nope.Deeper}}'), /executing "" at <.Nope.Deeper>: nil pointer evaluating interface \{\}.Deeper/);
  assert.throws(() => run('{{.Id.X}}'), /can't evaluate field X in type string/);
});

test('json, index, join, len, upper, printf, pipes and parentheses', () => {
  assert.equal(run('{{json .State}}'), '{"Pid":4242,"Running":true,"Status":"running"}');
  assert.equal(run('{{json .Names}}'), '["web","www"]');
  assert.equal(run('{{index .Labels "tier"}}'), 'front');
  assert.equal(run('{{index .Labels "com.example.x"}}'), 'y');
  assert.equal(run('{{index .Names 1}}'), 'www');
  assert.equal(run('{{(index .NetworkSettings.Networks "app").IPAddress}}'), '10.0.0.2');
  assert.equal(run('{{join .Names ","}}'), 'web,www');
  assert.equal(run('{{len .Names}}'), '2');
  assert.equal(run('{{.State.Status | upper}}'), 'RUNNING');
  assert.equal(run('{{.State | json}}'), '{"Pid":4242,"Running":true,"Status":"running"}');
  assert.equal(run('{{printf "%s:%d" .Id .State.Pid}}'), 'abc:4242');
  assert.throws(() => run('{{index .Names 5}}'), /index out of range: 5/);
  assert.throws(() => run('{{nosuch .Id}}'), /function "nosuch" not defined/);
});

test('range over maps and lists with variables, else; if/else if/else; with; trim; comments', () => {
  assert.equal(run('{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}'), 'app=10.0.0.2 bridge=172.17.0.2 ');
  assert.equal(run('{{range .NetworkSettings.Networks}}{{.IPAddress}},{{end}}'), '10.0.0.2,172.17.0.2,');
  assert.equal(run('{{range .Empty}}x{{else}}none{{end}}'), 'none');
  assert.equal(run('{{if .State.Running}}up{{else}}down{{end}}'), 'up');
  assert.equal(run('{{if .Empty}}a{{else if eq .Id "abc"}}b{{else}}c{{end}}'), 'b');
  assert.equal(run('{{if and .State.Running (gt .State.Pid 1)}}yes{{end}}'), 'yes');
  assert.equal(run('{{if not .Empty}}empty{{end}}'), 'empty');
  assert.equal(run('{{with .State}}{{.Pid}}{{end}}{{with .Nope}}x{{else}}-{{end}}'), '4242-');
  assert.equal(run('a  {{- .Id -}}  b{{/* note */}}'), 'aabcb');
  assert.throws(() => run('{{if .Id}}x'), /unexpected EOF/);
  assert.throws(() => run('{{end}}'), /unexpected \{\{end\}\}/);
  assert.throws(() => run('{{.Id'), /unclosed action/);
});

test('table prefix: a header line and tab-aligned columns', () => {
  const rows = [{ ID: 'abc', Names: 'web' }, { ID: 'abcdef0123456', Names: 'db' }];
  assert.equal(
    renderFormat('table {{.ID}}\t{{.Names}}', rows, { ID: 'SANDBOX ID', Names: 'NAMES' }),
    'SANDBOX ID      NAMES\nabc             web\nabcdef0123456   db\n',
  );
  assert.equal(renderFormat('{{.Names}}', rows, {}), 'web\ndb\n');
});
