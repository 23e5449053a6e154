// The OCI runtime config (config.json) of a sandbox made from an image: its own PID, IPC, UTS
// and mount namespaces, the network namespace berth built joined by path, the sandbox's hosts,
// resolv.conf and hostname bind-mounted, Docker's default capabilities and masked paths. Pure.
import type { BindMount } from '../model/types.js';

export interface OciInput {
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  hostname: string;
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids: number[] };
  /** undefined: share berthd's network namespace (host mode). */
  netnsPath: string | undefined;
  /** Directory holding the sandbox's hosts, resolv.conf and hostname. */
  filesDir: string;
  binds: BindMount[];
}

/** Docker's default capability set. */
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const MASKED = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function ociConfig(i: OciInput): Record<string, unknown> {
  const caps = { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS };
  const namespaces: Array<Record<string, string>> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (i.netnsPath) namespaces.push({ type: 'network', path: i.netnsPath });
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: i.terminal,
      user: { uid: i.user.uid, gid: i.user.gid, ...(i.user.additionalGids.length ? { additionalGids: i.user.additionalGids } : {}) },
      args: i.args,
      env: i.env,
      cwd: i.cwd || '/',
      capabilities: caps,
      noNewPrivileges: false,
    },
    root: { path: i.rootfs, readonly: false },
    hostname: i.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      // sysfs belongs to a network namespace; in host mode it is the host's, read-only either way.
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ...['hosts', 'resolv.conf', 'hostname'].map((f) => ({ destination: `/etc/${f}`, type: 'bind', source: `${i.filesDir}/${f}`, options: ['rbind', 'rprivate'] })),
      ...i.binds.map((b) => ({ destination: b.target, type: 'bind', source: b.source, options: ['rbind', 'rprivate', ...(b.readOnly ? ['ro'] : [])] })),
    ],
    linux: {
      namespaces,
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
}
