import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FwPublished } from '../../src/plan/firewall-view.js';
import { changedUdpPorts } from '../../src/plan/udp-flows.js';
import { conntrackDeleteArgv, forgetUdpFlows } from '../../src/kernel/conntrack.js';
import { fixture } from './brands.js';
import type { Ipv4 } from '../../src/model/types.js';

const pub = (hostPort: number, targetIp: string, proto: 'tcp' | 'udp' = 'udp', hostIp = '0.0.0.0'): FwPublished => ({
  hostIp: fixture<Ipv4>(hostIp), hostPort, proto, targetIp: fixture<Ipv4>(targetIp), targetPort: 53, sandbox: 'x',
});

test('changedUdpPorts: added, removed and retargeted UDP mappings; tcp and unchanged ones ignored', () => {
  const a = [pub(8082, '172.17.0.2'), pub(8080, '172.17.0.2', 'tcp'), pub(9000, '172.17.0.3'), pub(5353, '172.17.0.5', 'udp', '192.0.2.1')];
  assert.deepEqual(changedUdpPorts(a, a), []);
  const b = [pub(8082, '172.17.0.4'), pub(8080, '172.17.0.9', 'tcp'), pub(7000, '172.17.0.6'), pub(5353, '172.17.0.5', 'udp', '192.0.2.1')];
  assert.deepEqual(changedUdpPorts(a, b), [
    { hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 7000 },
    { hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 8082 },
    { hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 9000 },
  ]);
  assert.deepEqual(changedUdpPorts([], [pub(53, '172.17.0.2', 'udp', '127.0.0.1')]), [{ hostIp: fixture<Ipv4>('127.0.0.1'), hostPort: 53 }]);
});

test('conntrack argv and error handling', async () => {
  assert.deepEqual(conntrackDeleteArgv({ hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 8082 }), ['conntrack', '-D', '-p', 'udp', '--orig-port-dst', '8082']);
  assert.deepEqual(conntrackDeleteArgv({ hostIp: fixture<Ipv4>('192.0.2.1'), hostPort: 53 }), ['conntrack', '-D', '-p', 'udp', '--orig-port-dst', '53', '--orig-dst', '192.0.2.1']);
  const calls: string[][] = [];
  const problems = await forgetUdpFlows(async (argv) => {
    calls.push([...argv]);
    if (argv.includes('1')) return { code: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n' };
    if (argv.includes('2')) throw new Error('cannot run conntrack: ENOENT');
    return { code: 1, stdout: '', stderr: 'Operation not permitted' };
  }, [{ hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 1 }, { hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 2 }, { hostIp: fixture<Ipv4>('0.0.0.0'), hostPort: 3 }]);
  assert.equal(calls.length, 3);
  assert.deepEqual(problems, ['0.0.0.0:2/udp: cannot run conntrack: ENOENT', '0.0.0.0:3/udp: Operation not permitted']);
});
