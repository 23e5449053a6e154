// Health check settings and Docker's state machine: durations, flags to the API shape, the
// API shape checked, and starting -> healthy -> unhealthy with retries and the start period.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatDuration,
  healthcheckFromApi,
  healthFlagsToApi,
  initialHealth,
  LOG_KEEP,
  nextHealth,
  parseDuration,
  type HealthResult,
} from '../../src/model/healthcheck.js';
import { parseServicePortFlag, serviceSpecFromApi } from '../../src/model/service-spec.js';

test('Go durations', () => {
  assert.equal(parseDuration('30s', 'x'), 30_000);
  assert.equal(parseDuration('1m30s', 'x'), 90_000);
  assert.equal(parseDuration('500ms', 'x'), 500);
  assert.equal(parseDuration('1.5s', 'x'), 1500);
  assert.equal(parseDuration('0', 'x'), 0);
  assert.throws(() => parseDuration('5x', '--health-interval'), /invalid argument "5x" for "--health-interval" flag/);
  assert.throws(() => parseDuration('', '--health-timeout'), /--health-timeout/);
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(250), '250ms');
});

test('flags become Docker\'s Healthcheck; conflicts are refused', () => {
  assert.deepEqual(healthFlagsToApi({ healthCmd: 'true', healthInterval: '2s', healthRetries: '5' }), {
    Test: ['CMD-SHELL', 'true'],
    Interval: 2e9,
    Timeout: 0,
    Retries: 5,
    StartPeriod: 0,
  });
  assert.deepEqual(healthFlagsToApi({ healthTcp: '80' })?.['Test'], ['TCP', '80']);
  assert.deepEqual(healthFlagsToApi({ healthHttp: '8080/healthz' })?.['Test'], ['HTTP', '8080/healthz']);
  assert.deepEqual(healthFlagsToApi({ healthcheck: false }), { Test: ['NONE'] });
  assert.equal(healthFlagsToApi({}), undefined);
  assert.throws(() => healthFlagsToApi({ healthCmd: 'true', healthTcp: '80' }), /only one of/);
  assert.throws(() => healthFlagsToApi({ healthcheck: false, healthCmd: 'true' }), /--no-healthcheck conflicts/);
  assert.throws(() => healthFlagsToApi({ healthInterval: '1s' }), /need --health-cmd/);
  assert.throws(() => healthFlagsToApi({ healthHttp: 'x/y' }), /PORT\/PATH/);
  assert.throws(() => healthFlagsToApi({ healthTcp: '70000' }), /1 to 65535/);
});

test('the API shape is checked; 0 means Docker\'s default', () => {
  assert.deepEqual(healthcheckFromApi({ Test: ['CMD-SHELL', 'true'] }), { test: ['CMD-SHELL', 'true'], intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 });
  assert.equal(healthcheckFromApi({ Test: ['NONE'] }), undefined);
  assert.equal(healthcheckFromApi(undefined), undefined);
  assert.throws(() => healthcheckFromApi({ Test: ['SHELL', 'x'] }), /CMD-SHELL, CMD, TCP, HTTP or NONE/);
  assert.throws(() => healthcheckFromApi({ Test: ['CMD-SHELL', 'a', 'b'] }), /exactly one/);
  assert.throws(() => healthcheckFromApi({ Test: ['CMD-SHELL', 'x'], Interval: 10 }), /at least 1ms/);
  assert.throws(() => healthcheckFromApi({ Test: ['CMD-SHELL', 'x'], Retries: -1 }), /negative/);
});

const H = { test: ['CMD', 'x'], intervalMs: 1000, timeoutMs: 1000, retries: 2, startPeriodMs: 5000 };
const at = (ms: number, exitCode: number): HealthResult => ({ start: new Date(ms).toISOString(), end: new Date(ms + 1).toISOString(), exitCode, output: '' });

test('starting -> healthy -> unhealthy after `retries` failures; the start period forgives while starting', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  let h = initialHealth();
  h = nextHealth(h, H, at(t0 + 1000, 1), t0);
  h = nextHealth(h, H, at(t0 + 2000, 1), t0);
  assert.deepEqual([h.status, h.failingStreak], ['starting', 0], 'failures in the start period do not count while starting');
  h = nextHealth(h, H, at(t0 + 6000, 1), t0);
  assert.deepEqual([h.status, h.failingStreak], ['starting', 1], 'after the start period they count');
  h = nextHealth(h, H, at(t0 + 7000, 0), t0);
  assert.deepEqual([h.status, h.failingStreak], ['healthy', 0]);
  h = nextHealth(h, H, at(t0 + 8000, 1), t0);
  assert.deepEqual([h.status, h.failingStreak], ['healthy', 1], 'one failure of two allowed');
  h = nextHealth(h, H, at(t0 + 9000, -1), t0);
  assert.deepEqual([h.status, h.failingStreak], ['unhealthy', 2], 'a timeout (-1) is a failure');
  const healthyInStart = nextHealth(nextHealth(initialHealth(), H, at(t0 + 100, 0), t0), H, at(t0 + 200, 1), t0);
  assert.equal(healthyInStart.failingStreak, 1, 'once healthy, failures count even in the start period');
  for (let i = 0; i < 10; i++) h = nextHealth(h, H, at(t0 + 10_000 + i, 0), t0);
  assert.equal(h.log.length, LOG_KEEP, 'the log keeps the last 5 results');
});

test('service spec: Docker\'s ServiceSpec shape checked, networks resolved', () => {
  const net = (ref: string) => {
    if (ref !== 'app') throw new Error(`network ${ref} not found`);
    return 'net-app' as never;
  };
  const { name, spec } = serviceSpecFromApi(
    {
      Name: 'web',
      TaskTemplate: { ContainerSpec: { Command: ['sleep', '1'], Env: ['A=1'] }, Networks: [{ Target: 'app', Aliases: ['www'] }] },
      Mode: { Replicated: { Replicas: 3 } },
      EndpointSpec: { Ports: [parseServicePortFlag('8080:80'), parseServicePortFlag('53/udp')] },
      UpdateConfig: { Parallelism: 2, Delay: 5e9 },
    },
    net,
  );
  assert.equal(name, 'web');
  assert.deepEqual(spec.ports, [
    { published: 8080, target: 80, proto: 'tcp' },
    { published: 0, target: 53, proto: 'udp' },
  ]);
  assert.deepEqual([spec.replicas, spec.endpointMode, spec.networks, spec.aliases, spec.update], [3, 'vip', ['net-app'], ['www'], { parallelism: 2, delayMs: 5000 }]);
  const base = { Name: 'w', TaskTemplate: { ContainerSpec: { Command: ['x'] } } };
  assert.throws(() => serviceSpecFromApi({ ...base, Name: 'a_b' }, net), /invalid service name/);
  assert.throws(() => serviceSpecFromApi({ ...base, EndpointSpec: { Mode: 'rr' } }, net), /--endpoint-mode/);
  assert.throws(() => serviceSpecFromApi({ ...base, Mode: { Replicated: { Replicas: -1 } } }, net), /replicas/);
  assert.throws(() => serviceSpecFromApi({ ...base, EndpointSpec: { Mode: 'dnsrr', Ports: [parseServicePortFlag('80:80')] } }, net), /dnsrr/);
  assert.throws(() => serviceSpecFromApi({ Name: 'w' }, net), /No command/);
  assert.throws(() => parseServicePortFlag('80:'), /PUBLISHED:TARGET/);
});
