import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEphemeralRange, parseProcNet, procAddrToIpv4 } from '../../src/kernel/host-listeners.js';

// Real lines (little-endian host): 127.0.0.1:8500 listening, 0.0.0.0:22 listening, an established
// connection (not a listener), [::]:8080 listening, [::1]:9000 listening, [::ffff:10.0.0.1]:7000.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2134 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:A1B2 0100007F:2134 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100000A:1B58 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 100 0 0 10 0
`;
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0B00007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 7 2 0000000000000000 0
`;

test('listening TCP sockets, IPv4 and IPv6 (wildcard and mapped); established ones are not listeners', () => {
  assert.deepEqual(parseProcNet(TCP, 'tcp', true), [
    { proto: 'tcp', ip: '127.0.0.1', port: 8500 },
    { proto: 'tcp', ip: '0.0.0.0', port: 22 },
  ]);
  assert.deepEqual(parseProcNet(TCP6, 'tcp', true), [
    { proto: 'tcp', ip: '0.0.0.0', port: 8080 },
    { proto: 'tcp', ip: '10.0.0.1', port: 7000 },
  ]);
});

test('bound UDP sockets', () => {
  assert.deepEqual(parseProcNet(UDP, 'udp', true), [{ proto: 'udp', ip: '127.0.0.11', port: 53 }]);
});

test('addresses: byte order and IPv6 forms', () => {
  assert.equal(procAddrToIpv4('0100007F', true), '127.0.0.1');
  assert.equal(procAddrToIpv4('7F000001', false), '127.0.0.1');
  assert.equal(procAddrToIpv4('00000000000000000000000001000000', true), undefined); // ::1
});

test('ephemeral range', () => {
  assert.deepEqual(parseEphemeralRange('32768\t60999\n'), { start: 32768, end: 60999 });
  assert.deepEqual(parseEphemeralRange('garbage'), { start: 32768, end: 60999 });
});
