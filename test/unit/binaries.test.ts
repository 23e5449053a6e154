import { test } from 'node:test';
import assert from 'node:assert/strict';
import { absoluteArgv, findIn, requireHelpers, searchDirs, SYSTEM_DIRS } from '../../src/kernel/binaries.js';
import { commandArgv, DEFAULT_PATH, shimArgv, type HelperPaths } from '../../src/runtime/launch.js';
import { isShimOf } from '../../src/runtime/proc.js';

const resolve = (n: string) => (n.startsWith('/') ? n : `/abs/${n}`);

test('searchDirs: PATH first, then the system directories; relative entries are dropped', () => {
  assert.deepEqual(searchDirs('/opt/x:bin:/usr/bin'), ['/opt/x', '/usr/bin', ...SYSTEM_DIRS.filter((d) => d !== '/usr/bin')]);
  assert.deepEqual(searchDirs(undefined), SYSTEM_DIRS);
});

test('findIn: the first directory holding the program; odd names are never looked up', () => {
  const exec = new Set(['/b/ip', '/c/ip', '/c/nft']);
  assert.equal(findIn('ip', ['/a', '/b', '/c'], (p) => exec.has(p)), '/b/ip');
  assert.equal(findIn('nft', ['/a', '/b', '/c'], (p) => exec.has(p)), '/c/nft');
  assert.equal(findIn('nope', ['/a', '/b', '/c'], (p) => exec.has(p)), undefined);
  assert.equal(findIn('../c/ip', ['/b'], () => true), undefined);
  assert.equal(findIn('', ['/b'], () => true), undefined);
});

test('requireHelpers names every missing program and where it looked', () => {
  assert.throws(
    () => requireHelpers(['sh', 'berth-no-such-helper-1', 'berth-no-such-helper-2'], [], '/nonexistent'),
    /cannot find berth-no-such-helper-1, berth-no-such-helper-2 \(looked in \/nonexistent:\/usr\/local\/sbin/,
  );
  assert.deepEqual(requireHelpers(['sh'], ['berth-no-such-helper-3']).missingOptional, ['berth-no-such-helper-3']);
});

test('absoluteArgv: the program, and the one nsenter/unshare wrap, by absolute path', () => {
  assert.deepEqual(absoluteArgv(['ip', '-batch', '-'], resolve), ['/abs/ip', '-batch', '-']);
  assert.deepEqual(absoluteArgv(['nsenter', '--net=/run/x', 'ip', '-j', 'link'], resolve), ['/abs/nsenter', '--net=/run/x', '/abs/ip', '-j', 'link']);
  assert.deepEqual(absoluteArgv(['nsenter', '--net=/run/x', '--', 'nft', '-f', '-'], resolve), ['/abs/nsenter', '--net=/run/x', '--', '/abs/nft', '-f', '-']);
  assert.deepEqual(absoluteArgv(['unshare', '--net=/run/y', 'ip', '-batch', '-'], resolve), ['/abs/unshare', '--net=/run/y', '/abs/ip', '-batch', '-']);
  // Arguments of other programs are left alone, even when they look like helper names.
  assert.deepEqual(absoluteArgv(['sysctl', '-n', 'ip'], resolve), ['/abs/sysctl', '-n', 'ip']);
  assert.deepEqual(absoluteArgv(['/usr/sbin/ip', 'link'], resolve), ['/usr/sbin/ip', 'link']);
});

const BINS: HelperPaths = { nsenter: '/b/nsenter', unshare: '/b/unshare', sh: '/b/sh', env: '/b/env', chroot: '/b/chroot', mount: '/b/mount', hostname: '/b/hostname', mkdir: '/b/mkdir', mv: '/b/mv' };

test("commandArgv: the sandbox's environment goes to env -i, for the command alone", () => {
  assert.deepEqual(commandArgv(['sleep', '60'], { PATH: '/opt/app/bin', HOME: '/root' }, '', BINS), ['/b/env', '-i', '--', 'PATH=/opt/app/bin', 'HOME=/root', 'sleep', '60']);
  // With a root filesystem, chroot (berth's, by absolute path) runs the command inside it.
  assert.deepEqual(commandArgv(['sh'], { PATH: '/bin' }, '/srv/root', BINS), ['/b/env', '-i', '--', 'PATH=/bin', '/b/chroot', '/srv/root', 'sh']);
  // A first word with "=" would be one more assignment to env: sh runs it as a command instead.
  assert.deepEqual(commandArgv(['A=b', 'x'], {}, '', BINS), ['/b/env', '-i', '--', '/b/sh', '-c', 'exec "$@"', 'sh', 'A=b', 'x']);
  // Names env cannot set are left out rather than taken for the command.
  assert.deepEqual(commandArgv(['true'], { '': 'x', 'A=B': 'y', '-n': 'z' }, '', BINS), ['/b/env', '-i', '--', '-n=z', 'true']);
});

test("shimArgv: the shim's argv and environment hold nothing of the sandbox's environment but the command's", () => {
  const { argv, env } = shimArgv({ stateDir: '/d', netnsPath: '/run/ns', rootfs: '', hostname: 'h', cmd: ['sleep', '1'], env: { PATH: '/opt/app/bin' } }, BINS);
  assert.equal(argv[0], '/b/nsenter');
  assert.ok(argv.slice(0, argv.indexOf('--')).every((a) => !a.includes('/opt/app/bin')), argv.join(' '));
  assert.deepEqual(argv.slice(argv.indexOf('--') + 1), ['/b/env', '-i', '--', 'PATH=/opt/app/bin', 'sleep', '1']);
  assert.equal(env['PATH']?.includes('/opt/app/bin'), false);
  assert.equal(env['BERTH_MOUNT'], '/b/mount');
  // Host mode: no nsenter, unshare first.
  assert.equal(shimArgv({ stateDir: '/d', netnsPath: undefined, rootfs: '', hostname: '', cmd: ['x'], env: {} }, BINS).argv[0], '/b/unshare');
});

test('shimArgv with the native shim: one program, the state directory right after it (findShim), the netns last of its four', () => {
  const { argv, env } = shimArgv({ stateDir: '/d', netnsPath: '/run/ns', rootfs: '/r', hostname: 'h', cmd: ['sleep', '1'], env: { PATH: '/opt/app/bin' } }, BINS, '/x/berth-init');
  assert.deepEqual(argv, ['/x/berth-init', '/d', '/r', 'h', '/run/ns', '--', '/b/env', '-i', '--', 'PATH=/opt/app/bin', '/b/chroot', '/r', 'sleep', '1']);
  assert.deepEqual(env, { PATH: DEFAULT_PATH });
  // Host mode: no namespace to join, the hostname kept.
  assert.deepEqual(shimArgv({ stateDir: '/d', netnsPath: undefined, rootfs: '', hostname: '', cmd: ['x'], env: {} }, BINS, '/x/berth-init').argv.slice(0, 6), ['/x/berth-init', '/d', '', '', '', '--']);
  // A TTY: tty-relay between the shim and env, as with the shell chain.
  const tty = shimArgv({ stateDir: '/d', netnsPath: '/run/ns', rootfs: '', hostname: 'h', cmd: ['sh'], env: {}, tty: true }, BINS, '/x/berth-init').argv;
  assert.ok(tty[7]?.endsWith('/libexec/tty-relay'), tty.join(' '));
  assert.deepEqual(tty.slice(8), ['/d/tty-size', '--', '/b/env', '-i', '--', 'sh']);
});

test('isShimOf: reconcile finds the native shim, and the shell and OCI shims an older or BERTH_NATIVE_INIT=0 berthd started', () => {
  const native = shimArgv({ stateDir: '/data/sandboxes/ab', netnsPath: '/run/ns', rootfs: '', hostname: 'h', cmd: ['sleep', '1'], env: {} }, BINS, '/x/berth-init').argv;
  const shell = shimArgv({ stateDir: '/data/sandboxes/ab', netnsPath: '/run/ns', rootfs: '', hostname: 'h', cmd: ['sleep', '1'], env: {} }, BINS).argv;
  // What /proc shows once nsenter and unshare have exec'd: sh and the script's path first.
  const shellRunning = shell.slice(shell.indexOf('/b/sh'));
  for (const argv of [native, shellRunning, ['/bin/sh', '/opt/berth/libexec/oci-init', '/data/sandboxes/ab', '/m']]) {
    assert.equal(isShimOf(argv, '/data/sandboxes/ab'), true, argv.join(' '));
    assert.equal(isShimOf(argv, '/data/sandboxes/a'), false, argv.join(' '));
  }
  // The command itself, or a process that merely names the directory, is not a shim.
  assert.equal(isShimOf(['/bin/cat', '/data/sandboxes/ab'], '/data/sandboxes/ab'), false);
  assert.equal(isShimOf(['/x/berth-init-other', '/data/sandboxes/ab'], '/data/sandboxes/ab'), false);
});

test('shimArgv of an image sandbox: oci-init and the OCI runtime by absolute path, the launcher in berthd\'s minimal environment', () => {
  const oci = { runtime: '/b/runc', runtimeRoot: '/run/berth/runc', bundle: '/s', id: 'abc', merged: '/s/rootfs', lower: '/l2:/l1', upper: '/s/upper', work: '/s/work' };
  const { argv, env } = shimArgv({ stateDir: '/s', netnsPath: '/run/ns', rootfs: '', hostname: 'h', cmd: ['sh'], env: { PATH: '/opt/app/bin', LD_PRELOAD: '/x.so' }, oci }, BINS);
  assert.equal(argv[0], '/b/unshare');
  assert.ok(argv.every((a) => !a.includes('/opt/app/bin') && !a.includes('/x.so')), argv.join(' '));
  assert.ok(argv.filter((a) => !a.startsWith('-') && a !== 'private' && a !== 'abc').every((a) => a.startsWith('/')), argv.join(' '));
  assert.ok(argv.includes('/b/runc'), argv.join(' '));
  // Without a TTY, log-relay keeps stdout and stderr apart; with one, tty-relay makes the terminal.
  assert.deepEqual(Object.keys(env).sort(), ['BERTH_LOG_RELAY', 'BERTH_MKDIR', 'BERTH_MOUNT', 'BERTH_MV', 'BERTH_PYTHON', 'PATH']);
  assert.equal(env['PATH'], DEFAULT_PATH);
  assert.ok(env['BERTH_PYTHON']?.startsWith('/') && env['BERTH_LOG_RELAY']?.endsWith('/libexec/log-relay'));
  const tty = shimArgv({ stateDir: '/s', netnsPath: '/run/ns', rootfs: '', hostname: 'h', cmd: ['sh'], env: {}, oci, tty: true }, BINS).env;
  assert.deepEqual(Object.keys(tty).sort(), ['BERTH_MKDIR', 'BERTH_MOUNT', 'BERTH_MV', 'BERTH_PYTHON', 'BERTH_TTY_RELAY', 'PATH']);
});

test('shimArgv with a TTY (berth run -t): the command runs under tty-relay, its size file in the state directory', () => {
  const { argv } = shimArgv({ stateDir: '/d', netnsPath: '/run/ns', rootfs: '', hostname: 'h', cmd: ['sh'], env: {}, tty: true }, BINS);
  const rest = argv.slice(argv.indexOf('--') + 1);
  assert.ok(rest[0]?.startsWith('/') && rest[0].includes('python3'), rest.join(' '));
  assert.ok(rest[1]?.endsWith('/libexec/tty-relay'));
  assert.deepEqual(rest.slice(2), ['/d/tty-size', '--', '/b/env', '-i', '--', 'sh']);
});
