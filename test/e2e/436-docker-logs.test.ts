// docker logs and docker run as Docker keeps them (issue 12): stdout and stderr apart (`docker logs
// 2>/dev/null` hides stderr, `docker run` prints each on its own stream), Docker's timestamps
// (-t), --tail counting lines of both streams, -f following both, and berth's own `logs` still
// the plain interleaved bytes.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { run, runOk } from "./lab-exec.js";

test("docker logs: stdout and stderr apart, timestamps, tail, follow; docker run prints each on its stream", { timeout: 300_000 }, async () => {
  const work = mkdtempSync("/tmp/berth-logs-");
  try {
    const root = join(work, "root");
    mkdirSync(join(root, "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "bin", "busybox"));
    for (const a of ["sh", "echo", "sleep"]) symlinkSync("busybox", join(root, "bin", a));
    await runOk(["tar", "-C", root, "-cf", join(work, "l.tar"), "."]);
    await withLab("dt", {}, async (lab) => {
      const env = { ...process.env, DOCKER_HOST: lab.berthHost, BERTH_HOST: lab.berthHost, DOCKER_CONFIG: join(work, ".docker") };
      const docker = (args: string[]) => run(["docker", ...args], { env, timeoutMs: 60_000 });
      await runOk(["docker", "import", "--change", "ENV PATH=/bin", join(work, "l.tar"), "l:1"], { env });

      // (Two writes to the two streams at the same instant may be recorded in either order, as
      // with Docker: out2 comes a moment later, so --tail 1 has it alone.)
      const fg = await docker(["run", "--name", "l1", "l:1", "sh", "-c", "echo out1; echo err1 >&2; sleep 1; echo out2; exit 3"]);
      assert.equal(fg.code, 3);
      assert.equal(fg.stdout, "out1\nout2\n", "docker run: stdout only on stdout");
      assert.equal(fg.stderr, "err1\n", "docker run: stderr only on stderr");

      const all = await docker(["logs", "l1"]);
      assert.deepEqual([all.stdout, all.stderr], ["out1\nout2\n", "err1\n"]);
      const tail = await docker(["logs", "--tail", "1", "l1"]);
      assert.deepEqual([tail.stdout, tail.stderr], ["out2\n", ""], "--tail counts the lines of both streams");
      const tail3 = await docker(["logs", "--tail", "3", "l1"]);
      assert.deepEqual([tail3.stdout, tail3.stderr], ["out1\nout2\n", "err1\n"]);
      const stamped = await docker(["logs", "-t", "l1"]);
      for (const line of `${stamped.stdout}${stamped.stderr}`.trim().split("\n")) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (out|err)\d$/, "RFC 3339 with nanoseconds, then the line");

      // -f follows both streams while the container runs, and ends with it.
      await runOk(["docker", "run", "-d", "--name", "l2", "l:1", "sh", "-c", "for i in 1 2 3; do echo tick$i; echo tock$i >&2; sleep 0.3; done"], { env });
      const f = await docker(["logs", "-f", "l2"]);
      assert.deepEqual([f.stdout, f.stderr], ["tick1\ntick2\ntick3\n", "tock1\ntock2\ntock3\n"]);

      // berth's own CLI: the plain log, both streams as they came.
      const plain = await lab.berthOk(["logs", "l2"]);
      assert.deepEqual(plain.trim().split("\n").sort(), ["tick1", "tick2", "tick3", "tock1", "tock2", "tock3"]);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
