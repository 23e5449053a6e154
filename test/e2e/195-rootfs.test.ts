// --rootfs: the sandbox's command runs chrooted into a directory (here a minimal busybox tree);
// its own /etc files are mounted inside it, names resolve, berth exec lands in it, and bad
// paths are refused before anything is created.

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";

function busyboxRoot(): string {
  const dir = mkdtempSync("/tmp/berth-rootfs-");
  for (const d of ["bin", "etc", "www"]) mkdirSync(join(dir, d));
  copyFileSync("/bin/busybox", join(dir, "bin", "busybox"));
  for (const a of ["sh", "cat", "ls", "hostname", "httpd", "wget"]) symlinkSync("busybox", join(dir, "bin", a));
  writeFileSync(join(dir, "www", "index.html"), "hello from the rootfs\n");
  return dir;
}

test("--rootfs: chrooted command, its own /etc files, DNS by name, exec inside; bad paths refused", async () => {
  const root = busyboxRoot();
  try {
    await withLab("rfs", {}, async (lab) => {
      await lab.berthOk(["network", "create", "app"]);
      await lab.berthOk(["run", "-d", "--name", "rweb", "--hostname", "rweb-host", "--network", "app", "--rootfs", root, "--", "/bin/httpd", "-f", "-p", "80", "-h", "/www"]);
      const seen = await lab.berth(["run", "--rm", "--network", "app", "--rootfs", root, "--", "/bin/sh", "-c", "ls /; echo ---; wget -qO- http://rweb/"]);
      assert.equal(seen.code, 0, seen.stderr);
      const [listing, page] = seen.stdout.split("---\n");
      assert.deepEqual(listing!.trim().split(/\s+/).sort(), ["bin", "etc", "www"], `the command sees the rootfs as /: ${listing}`);
      assert.equal(page, "hello from the rootfs\n", "the other rootfs sandbox answers by name through the embedded DNS");
      // exec enters the same root, with the sandbox's own hostname and hosts file.
      assert.equal((await lab.berthOk(["exec", "rweb", "--", "/bin/hostname"])).trim(), "rweb-host");
      assert.match(await lab.berthOk(["exec", "rweb", "--", "/bin/cat", "/etc/hosts"]), /\trweb-host\n$/);
      assert.deepEqual((await lab.berthOk(["exec", "rweb", "--", "/bin/ls", "/"])).trim().split(/\s+/).sort(), ["bin", "etc", "www"]);
      // Bad paths: refused with a clear message, nothing created.
      const before = await lab.berthOk(["ps", "-aq"]);
      for (const [path, msg] of [["relative/dir", /must be an absolute path/], ["/nonexistent-rootfs", /is not a directory/]] as const) {
        const r = await lab.berth(["run", "--rootfs", path, "--", "true"]);
        assert.equal(r.code, 125);
        assert.match(r.stderr, msg);
      }
      assert.equal(await lab.berthOk(["ps", "-aq"]), before, "no sandbox was created by the refused runs");
      await lab.berthOk(["rm", "-f", "rweb"]);
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
