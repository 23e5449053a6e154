// docker run --user and an image's User, resolved against the image's passwd and group as runc does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveUser } from '../../src/model/user-spec.js';
import { BadRequest } from '../../src/model/errors.js';

const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbroken line\n';
const group = 'root:x:0:\nstaff:x:50:app,other\napp:x:1001:\nwheel:x:10:root\n';

test('names and numbers, with and without a group', () => {
  assert.deepEqual(resolveUser('', passwd, group), { uid: 0, gid: 0, additionalGids: [] });
  assert.deepEqual(resolveUser('app', passwd, group), { uid: 1000, gid: 1001, additionalGids: [50] });
  assert.deepEqual(resolveUser('1000', passwd, group), { uid: 1000, gid: 1001, additionalGids: [50] });
  assert.deepEqual(resolveUser('app:staff', passwd, group), { uid: 1000, gid: 50, additionalGids: [] });
  assert.deepEqual(resolveUser('4242:7', passwd, group), { uid: 4242, gid: 7, additionalGids: [] }, 'numbers need no entry');
  assert.deepEqual(resolveUser('4242', '', ''), { uid: 4242, gid: 0, additionalGids: [] });
});

test('unknown names are refused with runc\'s words', () => {
  assert.throws(() => resolveUser('nobody2', passwd, group), (e: Error) => e instanceof BadRequest && e.message === 'unable to find user nobody2: no matching entries in passwd file');
  assert.throws(() => resolveUser('app:nogroup', passwd, group), /unable to find group nogroup: no matching entries in group file/);
});
