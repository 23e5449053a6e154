import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UNIT = join(import.meta.dirname, '..', '..', '..', 'contrib', 'systemd', 'berthd.service');

test('contrib/systemd/berthd.service: restarts on failure, stops berthd only, and systemd accepts it', (t) => {
  const text = readFileSync(UNIT, 'utf8');
  const settings = new Map(text.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(settings.get('Restart'), 'on-failure');
  // Sandboxes share the unit's cgroup and must outlive a stop or restart of berthd.
  assert.equal(settings.get('KillMode'), 'process');
  assert.match(settings.get('ExecStart') ?? '', /^\/usr\/local\/bin\/berthd --data-root \/var\/lib\/berth --exec-root \/run\/berth\b/);
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    t.diagnostic('systemd-analyze is not installed: the unit was not verified by systemd');
    return;
  }
  // berthd is not installed here: verify the same unit with a program that exists.
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
  try {
    const copy = join(dir, 'berthd.service');
    writeFileSync(copy, text.replace('/usr/local/bin/berthd', '/bin/true'));
    const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    assert.equal(r.status, 0, `systemd-analyze verify: ${r.stderr}${r.stdout}`);
    assert.equal(r.stderr.trim(), '', r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
