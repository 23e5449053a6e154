// dockerode (the Node SDK) against berthd (issue 12, S31): version, importImage, networks,
// createContainer/start/inspect/listContainers with filters, a published port from outside,
// exec with separate stdout/stderr frames and its exit code, run() (plain attach + wait), and
// real events from GET /events.

import assert from "node:assert/strict";
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import Docker from "dockerode";
import { HOST_IP, withLab } from "./lab.js";
import { runOk } from "./lab-exec.js";
import { waitFor } from "./wait.js";

function collect(s: PassThrough): () => string {
  let out = "";
  s.on("data", (b: Buffer) => (out += b.toString()));
  return () => out;
}

test("dockerode: version, importImage, networks, containers, published port, exec, run, events", { timeout: 300_000 }, async () => {
  const work = mkdtempSync("/tmp/berth-dockerode-");
  try {
    const root = join(work, "root");
    for (const d of ["bin", "www"]) mkdirSync(join(root, d), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "bin", "busybox"));
    for (const a of ["sh", "httpd", "echo", "sleep"]) symlinkSync("busybox", join(root, "bin", a));
    writeFileSync(join(root, "www", "index.html"), "hello from dockerode\n");
    await runOk(["tar", "-C", root, "-cf", join(work, "bb.tar"), "."]);
    await withLab("dkn", { upstreamDns: true }, async (lab) => {
      const docker = new Docker({ socketPath: lab.socketPath });
      assert.equal((await docker.version()).ApiVersion, "1.41");

      const events: Array<{ Type: string; Action: string; Actor: { ID: string } }> = [];
      const evStream = (await docker.getEvents()) as NodeJS.ReadableStream & { destroy(): void };
      let buf = "";
      evStream.on("data", (b: Buffer) => {
        buf += b.toString();
        for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
      });

      const imported = await docker.importImage(createReadStream(join(work, "bb.tar")) as unknown as string, { repo: "bb", tag: "1" });
      await new Promise<void>((resolve, reject) => docker.modem.followProgress(imported, (err: Error | null) => (err ? reject(err) : resolve())));
      assert.deepEqual((await docker.getImage("bb:1").inspect()).RepoTags, ["bb:1"]);

      const net = await docker.createNetwork({ Name: "dn", IPAM: { Config: [{ Subnet: "10.88.0.0/24" }] } });
      assert.equal((await net.inspect()).IPAM?.Config?.[0]?.Subnet, "10.88.0.0/24");

      const web = await docker.createContainer({
        name: "w",
        Image: "bb:1",
        Cmd: ["httpd", "-f", "-p", "80", "-h", "/www"],
        ExposedPorts: { "80/tcp": {} },
        HostConfig: { NetworkMode: "dn", PortBindings: { "80/tcp": [{ HostPort: "8081" }] } },
      });
      await web.start();
      const info = await web.inspect();
      assert.equal(info.State.Running, true);
      assert.equal(info.NetworkSettings.Networks["dn"]?.IPAddress.startsWith("10.88.0."), true);
      assert.deepEqual((await docker.listContainers({ all: true, filters: { name: ["w"] } })).map((c) => c.Names[0]), ["/w"]);
      assert.deepEqual(await docker.listContainers({ filters: { status: ["exited"] } }), []);
      const page = await lab.inOutside(["curl", "-sS", "--max-time", "5", "--retry", "5", "--retry-connrefused", `http://${HOST_IP}:8081/`]);
      assert.equal(page.stdout, "hello from dockerode\n", page.stderr);

      // exec: stdout and stderr arrive as separate frames; the exit code from exec inspect.
      const exec = await web.exec({ Cmd: ["sh", "-c", "echo to-out; echo to-err >&2; exit 5"], AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin: false });
      const out = new PassThrough();
      const err = new PassThrough();
      const outText = collect(out);
      const errText = collect(err);
      docker.modem.demuxStream(stream, out, err);
      await new Promise<void>((resolve) => stream.on("end", () => resolve()));
      assert.deepEqual([outText(), errText()], ["to-out\n", "to-err\n"]);
      assert.equal((await exec.inspect()).ExitCode, 5);

      // run(): create, attach without an upgrade, start, wait; frames demultiplexed (no TTY).
      const runOut = new PassThrough();
      const runText = collect(runOut);
      const [result, ran] = (await docker.run("bb:1", ["sh", "-c", "echo run-out; exit 2"], [runOut, new PassThrough()], { Tty: false })) as [{ StatusCode: number }, Docker.Container];
      assert.equal(result.StatusCode, 2);
      // run() resolves on the wait's answer; the attached output is a second stream that may
      // arrive after it on a busy machine (with dockerd too): it must arrive, in full.
      await waitFor("run()'s attached output", () => runText() === "run-out\n", { timeoutMs: 10_000, describe: () => JSON.stringify(runText()) });
      await ran.remove();

      // Docker's status codes, as the SDK sees them.
      const code = (p: Promise<unknown>) => p.then(() => 0, (e: { statusCode?: number; message?: string }) => `${e.statusCode} ${e.message}`);
      assert.match(String(await code(docker.createNetwork({ Name: "dn" }))), /^409 .*network with name dn already exists/);
      assert.match(String(await code(docker.getNetwork("bridge").remove())), /^403 .*pre-defined network/);
      assert.match(String(await code(net.remove())), /^403 .*has active endpoints/);
      assert.match(String(await code(docker.createContainer({ Image: "nothere:2", Cmd: ["true"] }))), /^404 .*No such image: nothere:2/);
      assert.match(String(await code(docker.createContainer({ name: "w", Image: "bb:1", Cmd: ["true"] }))), /^409 .*The container name "\/w" is already in use/);
      assert.match(String(await code(docker.getContainer("nope").inspect())), /^404 .*No such container: nope/);

      await web.remove({ force: true });
      await net.remove();
      const deadline = Date.now() + 10_000;
      while (!events.some((e) => e.Type === "network" && e.Action === "destroy") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      evStream.destroy();
      const seen = events.map((e) => `${e.Type} ${e.Action}`);
      for (const want of ["network create", "container create", "container start", "network connect", "container die", "container destroy", "network destroy"]) {
        assert.ok(seen.includes(want), `event ${want} in ${seen.join(", ")}`);
      }
      assert.ok(events.some((e) => e.Type === "container" && e.Action === "start" && e.Actor.ID === web.id), "the start event names the container");
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
