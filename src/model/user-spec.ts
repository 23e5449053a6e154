// Docker's `--user` / image `User`: "user[:group]", each a name or a number, resolved against the
// image's /etc/passwd and /etc/group as runc's libcontainer does (a number needs no entry; a name
// does). Supplementary groups are those that list the user as a member. Pure.
import { BadRequest } from './errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

const ID = /^\d{1,10}$/;

interface Entry {
  name: string;
  id: number;
  gid: number;
  members: string[];
}

function entries(text: string, kind: 'passwd' | 'group'): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !f[0] || !ID.test(f[2] ?? '')) continue;
    out.push({ name: f[0], id: Number(f[2]), gid: kind === 'passwd' && ID.test(f[3] ?? '') ? Number(f[3]) : 0, members: kind === 'group' ? (f[3] ?? '').split(',').filter(Boolean) : [] });
  }
  return out;
}

/** "" is root. passwd and group are the files' contents ("" when the image has none). */
export function resolveUser(spec: string, passwd: string, group: string): ResolvedUser {
  if (!spec) return { uid: 0, gid: 0, additionalGids: [] };
  const [u = '', g] = spec.split(':', 2);
  const users = entries(passwd, 'passwd');
  const groups = entries(group, 'group');
  const user = ID.test(u) ? users.find((e) => e.id === Number(u)) : users.find((e) => e.name === u);
  if (!user && !ID.test(u)) throw new BadRequest(`unable to find user ${u}: no matching entries in passwd file`);
  const uid = user ? user.id : Number(u);
  let gid = user ? user.gid : 0;
  if (g !== undefined && g !== '') {
    const grp = ID.test(g) ? undefined : groups.find((e) => e.name === g);
    if (!ID.test(g) && !grp) throw new BadRequest(`unable to find group ${g}: no matching entries in group file`);
    gid = grp ? grp.id : Number(g);
  }
  const additionalGids = user && g === undefined ? groups.filter((e) => e.members.includes(user.name) && e.id !== gid).map((e) => e.id) : [];
  if (uid > 2 ** 32 - 2 || gid > 2 ** 32 - 2) throw new BadRequest(`user ${spec}: uid and gid must be below 4294967295`);
  return { uid, gid, additionalGids };
}
