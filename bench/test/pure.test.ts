// Unit tests of the harness's pure parts: `npm run build && node --test dist/bench/test/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmt, percentile, summarize } from '../lib/stats.js';
import { MetricBuilder } from '../lib/result.js';
import { renderMarkdown, type RunRecord } from '../lib/report.js';
import { parsePhaseLines } from '../systems/berth.js';
import { rotate } from '../metrics/common.js';

test('summarize gives median, min, max', () => {
  assert.deepEqual(summarize([3, 1, 2]), { n: 3, median: 2, min: 1, max: 3 });
  assert.deepEqual(summarize([4, 1, 2, 3]), { n: 4, median: 2.5, min: 1, max: 4 });
  assert.equal(summarize([]), undefined);
});

test('percentile is nearest-rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile([7], 99), 7);
});

test('fmt keeps three significant digits', () => {
  assert.equal(fmt(1234.5), '1,235');
  assert.equal(fmt(12.345), '12.3');
  assert.equal(fmt(0.0123), '0.012');
  assert.equal(fmt(undefined), '—');
});

test('rotate changes who goes first', () => {
  assert.deepEqual(rotate(['a', 'b', 'c'], 1), ['b', 'c', 'a']);
  assert.deepEqual(rotate(['a', 'b', 'c'], 3), ['a', 'b', 'c']);
});

test("berthd's phase lines are parsed per operation", () => {
  const log = [
    '2026-11-22T03:00:00.000Z debug start bn-s1: reserve 0.4 persist 1.0 files 0.6 links+firewall+dns 18.5 launch 4.0 persist 0.5',
    '2026-11-22T03:00:01.000Z info  sandbox bn-s1 started (10.91.0.2)',
    '2026-11-22T03:00:02.000Z debug release bn-s1: kill 2.0 links+firewall+dns 12.5 persist 0.5',
  ].join('\n');
  const p = parsePhaseLines(log);
  assert.deepEqual(p.get('start bn-s1'), { reserve: 0.4, persist: 1.5, files: 0.6, 'links+firewall+dns': 18.5, launch: 4 });
  assert.deepEqual(p.get('release bn-s1'), { kill: 2, 'links+firewall+dns': 12.5, persist: 0.5 });
});

test('the report gives berth/peer ratios and says why a system was not measured', () => {
  const b = new MetricBuilder({
    id: 'setup',
    title: 'T',
    description: 'D',
    systems: ['berth', 'peer', 'gone'],
    berthSystems: ['berth'],
    command: 'npm run bench -- --only setup',
  });
  b.measure('x', 'setup', 'ms', 'lower');
  for (const v of [10, 20, 30]) b.add('x', 'berth', v);
  for (const v of [40, 40]) b.add('x', 'peer', v);
  b.add('x', 'berth: daemon', 5, { afterSystem: 'berth', berth: true });
  b.skip('gone', 'not installed');
  const rec: RunRecord = {
    date: '2026-11-22T00:00:00Z',
    machine: { os: 'Debian', kernel: '6', cpu: 'cpu', cores: 2, memGiB: 24, loadStart: '0.10 0.10 0.10' },
    command: 'npm run bench',
    quick: false,
    result: b.result,
  };
  const md = renderMarkdown({ setup: rec });
  assert.match(md, /\| berth \| 20\.0 \| 10\.0 \| 30\.0 \| 3 \|/);
  assert.match(md, /\| peer \| 40\.0 \| 40\.0 \| 40\.0 \| 2 \| 0\.50× \| 0\.13× \|/);
  assert.match(md, /\| berth: daemon \| 5\.00 \|/);
  assert.match(md, /- gone: not installed/);
  assert.doesNotMatch(md, /Busy machine/);
});
