// Unit tests of the multi-host bench's parsers: `npm run build && node --test dist/bench/test/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addCounters, diffCounters, parseEtcdMetrics } from '../multihost/prom.js';
import { applyLines, convergedAt, peersRemovedAt } from '../multihost/log-lines.js';

const METRICS = `# HELP grpc_server_handled_total Total number of RPCs completed on the server.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 12
grpc_server_handled_total{grpc_code="DeadlineExceeded",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3
grpc_server_msg_sent_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"} 40
grpc_server_msg_received_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 7
grpc_server_started_total{grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 13
etcd_server_has_leader 1
`;

test('etcd gRPC counters are read per method, over result codes', () => {
  const c = parseEtcdMetrics(METRICS);
  assert.deepEqual(c.handled, { Txn: 13, Range: 3 });
  assert.deepEqual(c.sent, { Watch: 40 });
  assert.deepEqual(c.received, { LeaseKeepAlive: 7 });
});

test('members add up; a difference keeps what changed', () => {
  const a = parseEtcdMetrics(METRICS);
  const sum = addCounters(a, a);
  assert.equal(sum.handled['Txn'], 26);
  const d = diffCounters(sum, a);
  assert.deepEqual(d.handled, { Txn: 13, Range: 3 });
  assert.deepEqual(diffCounters(a, a), { handled: {}, received: {}, sent: {} });
});

const LOG = `2026-11-30T07:00:00.100Z info  cluster: joined as h2
2026-11-30T07:00:01.250Z debug overlay: peers -0 +1
2026-11-30T07:00:01.300Z debug overlay: converged ce0 10.40.0.5 from h1 in 46 ms (FDB, neighbour, DNS)
2026-11-30T07:00:02.000Z debug overlay: converged ce0 10.40.0.5 from h1 in 746 ms (FDB, neighbour, DNS)
2026-11-30T07:00:09.500Z debug overlay: peers -3 +0
2026-11-30T07:00:09.900Z debug overlay: peers -50 +0
`;

test('converged lines give the first time a name was in place', () => {
  assert.deepEqual([...convergedAt(LOG)], [['ce0', Date.parse('2026-11-30T07:00:01.300Z')]]);
});

test('peers removed: the first batch large enough after a time', () => {
  const since = Date.parse('2026-11-30T07:00:05Z');
  assert.equal(peersRemovedAt(LOG, since, 50), Date.parse('2026-11-30T07:00:09.900Z'));
  assert.equal(peersRemovedAt(LOG, since, 1), Date.parse('2026-11-30T07:00:09.500Z'));
  assert.equal(peersRemovedAt(LOG, Date.parse('2026-11-30T07:00:10Z'), 1), undefined);
});

test('apply lines give the phases of each change within a window', () => {
  const log = `2026-11-30T07:00:01.000Z debug overlay: applied 3 endpoints: networks 0.2 peers 9.5 follow 20.1
2026-11-30T07:00:03.000Z debug overlay: applied 4 endpoints: networks 0.1 peers 8.0 follow 15.0
`;
  const got = applyLines(log, Date.parse('2026-11-30T07:00:00Z'), Date.parse('2026-11-30T07:00:02Z'));
  assert.deepEqual(got, [{ t: Date.parse('2026-11-30T07:00:01.000Z'), endpoints: 3, phases: { networks: 0.2, peers: 9.5, follow: 20.1 } }]);
});
