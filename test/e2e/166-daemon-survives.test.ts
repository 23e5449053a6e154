// Nothing a client sends ends berthd (issue #8). The example from the issue: a sandbox whose
// PATH lacks the system directories used to make berthd look for its own helpers (nsenter,
// unshare, sh) there, and the unhandled spawn error ended the daemon ("socket hang up").
// Now the sandbox's environment reaches its command only: the command is found through the
// sandbox's PATH (as in Docker), berthd's helpers by absolute path.

import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";

test("a sandbox's PATH applies to its command only, and cannot end berthd", async () => {
  await withLab("hpath", {}, async (lab) => {
    const pid = lab.berthdPid;
    // The example, word for word.
    const r = await lab.berth(["run", "-d", "--name", "optpath", "-e", "PATH=/opt/app/bin", "--", "sleep", "60"]);
    assert.equal(r.code, 0, `run -d with PATH=/opt/app/bin: ${r.stderr}`);
    assert.equal((await lab.api("GET", "/_ping")).status, 200, "berthd answers after the run");
    assert.equal(lab.berthdPid, pid, "berthd is the same process");
    // sleep is not in /opt/app/bin: the command is not found, as with `docker run` (exit 127).
    const waited = await lab.api("POST", "/containers/optpath/wait");
    assert.equal(waited.status, 200, waited.text);
    assert.equal((waited.json() as { StatusCode: number }).StatusCode, 127, `exit code; log:\n${await lab.berthOk(["logs", "optpath"])}`);
    assert.match(await lab.berthOk(["logs", "optpath"]), /sleep.*No such file or directory/);

    // A program in the sandbox's own PATH runs and sees that PATH (HOME and HOSTNAME too).
    const bin = join(lab.dir, "app", "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "hello"), '#!/bin/sh\necho "hello PATH=$PATH HOME=$HOME"\n');
    chmodSync(join(bin, "hello"), 0o755);
    const hello = await lab.berth(["run", "--rm", "-e", `PATH=${bin}`, "--", "hello"]);
    assert.equal(hello.code, 0, hello.stderr);
    assert.equal(hello.stdout, `hello PATH=${bin} HOME=/root\n`);
    // Nothing of berthd's own environment (or the shim's) leaks into the command's.
    const envOut = await lab.berth(["run", "--rm", "-e", "FOO=bar", "--", "/usr/bin/env"]);
    assert.equal(envOut.code, 0, envOut.stderr);
    assert.deepEqual(envOut.stdout.trim().split("\n").map((l) => l.split("=")[0]).sort(), ["FOO", "HOME", "HOSTNAME", "PATH"], envOut.stdout);

    // berth exec into a sandbox with that PATH: nsenter is berth's, the command the sandbox's.
    await lab.berthOk(["run", "-d", "--name", "app", "-e", `PATH=${bin}`, "--", "/bin/sleep", "600"]);
    const ex = await lab.berth(["exec", "app", "--", "hello"]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.stdout, `hello PATH=${bin} HOME=/root\n`);

    // A first word with "=" is a command name (not found), not one more variable.
    const eq = await lab.berth(["run", "--rm", "--", "A=b", "true"]);
    assert.equal(eq.code, 127, `A=b as a command: ${eq.stdout} ${eq.stderr}`);

    // berthd went through all of it: same process, nothing it had to catch at the last line.
    assert.equal(lab.berthdPid, pid);
    assert.equal((await lab.api("GET", "/_ping")).status, 200);
    assert.doesNotMatch(lab.berthdLog(), /BUG: /);
  });
});

test("berthd refuses to start when a helper program is missing, naming it, before it touches anything", async () => {
  await withLab("hpbin", { startBerthd: false }, async (lab) => {
    // nft hidden in a private mount namespace (a device is not a program), berthd in the lab's host.
    const hide = 'for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do [ -e "$d/nft" ] && mount --bind /dev/null "$d/nft"; done; exec "$@"';
    const berthd = join(import.meta.dirname, "..", "..", "..", "bin", "berthd");
    const args = ["--data-root", lab.dataRoot, "--exec-root", lab.execRoot, "--socket", lab.socketPath, "--resolv-conf", lab.resolvConfPath];
    const r = await lab.inHost(["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh", process.execPath, berthd, ...args]);
    assert.equal(r.code, 1, `berthd without nft: ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, /^berthd: cannot find nft \(looked in [^)]*\/usr\/sbin[^)]*\): install it or add its directory to berthd's PATH\n$/);
    assert.equal(existsSync(join(lab.dataRoot, "state.json")), false, "the store was written");
    assert.equal(existsSync(join(lab.execRoot, "netns")), false, "the exec root was filled");
    assert.equal(existsSync(lab.socketPath), false, "the socket was created");
  });
});
