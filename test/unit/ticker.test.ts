import { test } from 'node:test';
import assert from 'node:assert/strict';
import { every } from '../../src/daemon/ticker.js';

test('every: a run slower than the interval never overlaps the next; a throwing run is logged and the ticker goes on', async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const logged: string[] = [];
  const t = every(
    'slow poll',
    5,
    async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 30)); // six intervals
      active--;
      if (runs === 2) throw new Error('boom');
    },
    (_level, msg) => logged.push(msg),
  );
  while (runs < 4) await new Promise((r) => setTimeout(r, 10));
  t.stop();
  await t.idle();
  assert.equal(maxActive, 1, 'two runs at once');
  assert.ok(logged.some((m) => m.startsWith('slow poll: Error: boom')), logged.join('\n'));
});
