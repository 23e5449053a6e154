import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyChanges } from '../../src/images/changes.js';
import { normalizeRef } from '../../src/images/reference.js';
import { parseBind, parseMount } from '../../src/model/binds.js';
import { parseFilters } from '../../src/daemon/docker/filters.js';

test('image references are normalised as Docker does', () => {
  assert.equal(normalizeRef('busybox'), 'busybox:latest');
  assert.equal(normalizeRef('docker.io/library/busybox:1.36'), 'busybox:1.36');
  assert.equal(normalizeRef('docker.io/me/web'), 'me/web:latest');
  assert.equal(normalizeRef('localhost:5000/web:2'), 'localhost:5000/web:2');
  assert.equal(normalizeRef('web', '3'), 'web:3');
  assert.throws(() => normalizeRef('Web'), /must be lowercase/);
  assert.throws(() => normalizeRef('web:bad tag'), /tag/);
});

test('--change lines set the image config', () => {
  const c = applyChanges({ Env: ['A=1'] }, ['ENV A=2 B="two words"', 'ENV C 3', 'CMD ["/bin/sh","-c","x"]', 'ENTRYPOINT run me', 'WORKDIR /a', 'WORKDIR b', 'EXPOSE 80 53/udp', 'LABEL k=v']);
  assert.deepEqual(c.Env, ['A=2', 'B=two words', 'C=3']);
  assert.deepEqual(c.Cmd, ['/bin/sh', '-c', 'x']);
  assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', 'run me']);
  assert.equal(c.WorkingDir, '/a/b');
  assert.deepEqual(c.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.deepEqual(c.Labels, { k: 'v' });
  assert.throws(() => applyChanges({}, ['RUN make']), /RUN is not a valid change command/);
  assert.throws(() => applyChanges({}, ['EXPOSE 70000']), /invalid port/);
  assert.throws(() => applyChanges({}, ['CMD [oops']), /not a valid JSON array/);
});

test('bind and volume specs', () => {
  assert.deepEqual(parseBind('/srv:/data:ro'), { source: '/srv', volume: '', target: '/data', readOnly: true });
  assert.deepEqual(parseBind('cache:/var/cache'), { source: '', volume: 'cache', target: '/var/cache', readOnly: false });
  assert.throws(() => parseBind('/srv:data'), /must be absolute/);
  assert.throws(() => parseBind('/srv:/data:bogus'), /invalid mode/);
  assert.throws(() => parseBind('../x:/data'), /invalid characters/);
  assert.deepEqual(parseMount({ Type: 'bind', Source: '/a', Target: '/b', ReadOnly: true }), { source: '/a', volume: '', target: '/b', readOnly: true });
  assert.throws(() => parseMount({ Type: 'tmpfs', Source: '', Target: '/t', ReadOnly: false }), /bind and volume/);
});

test('filters in both client shapes', () => {
  assert.deepEqual(parseFilters('{"label":{"a=b":true}}'), { label: ['a=b'] });
  assert.deepEqual(parseFilters('{"label":["a=b","c"]}'), { label: ['a=b', 'c'] });
  assert.deepEqual(parseFilters(undefined), {});
  assert.throws(() => parseFilters('nope'), /not valid JSON/);
});
