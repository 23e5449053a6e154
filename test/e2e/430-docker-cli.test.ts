// The real `docker` CLI against berthd's socket (issue 12, S31): version negotiation, images
// without a registry (import with --change, load of Docker's and the OCI layout, tag, rmi, a
// pull refused), containers from images run by runc (own PID namespace, exit codes, 127), a
// published port answering from the lab's outside namespace, names between containers,
// docker exec output/exit codes/stdin, docker logs -f, docker network inspect.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { HOST_IP, withLab, type Lab } from "./lab.js";
import { run, runOk } from "./lab-exec.js";

/** The machine's docker CLI (28 here) and Debian's docker.io client (20.10), when installed. */
/** The 20.10 client talks to the second socket (--docker-socket), the other to berthd's own. */
const CLIS: Array<{ name: string; bin: string; prefix: string; dockerSocket: boolean }> = [
  { name: "the machine's docker CLI", bin: process.env["DOCKER_CLI"] ?? "docker", prefix: "dkc", dockerSocket: false },
  ...(existsSync("/usr/bin/docker") ? [{ name: "Debian's docker.io CLI on --docker-socket", bin: "/usr/bin/docker", prefix: "dkd", dockerSocket: true }] : []),
];

function busyboxTree(dir: string): void {
  for (const d of ["bin", "www"]) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync("/bin/busybox", join(dir, "bin", "busybox"));
  for (const a of ["sh", "ps", "cat", "echo", "hostname", "httpd", "wget", "sleep", "pwd", "ls"]) symlinkSync("busybox", join(dir, "bin", a));
  writeFileSync(join(dir, "www", "index.html"), "hello from an imported image\n");
}

let DOCKER = "docker";
let DOCKER_HOST: string | undefined;

function docker(lab: Lab, args: string[], opts: { input?: string; timeoutMs?: number } = {}) {
  return run([DOCKER, ...args], { env: { ...process.env, DOCKER_HOST: DOCKER_HOST ?? lab.berthHost, DOCKER_CONFIG: join(lab.dir, "docker-config") }, timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

async function dockerOk(lab: Lab, args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await docker(lab, args, opts);
  assert.equal(r.code, 0, `docker ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Polls until fn gives the wanted text, failing with what it saw last. */
async function waitUntil(what: string, fn: () => Promise<string>, want = "exited 2", timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = "";
  while (Date.now() < deadline) {
    seen = await fn();
    if (seen === want) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`waited ${timeoutMs} ms for ${what}; last seen: ${seen}`);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A `docker save` archive in Docker's legacy layout and one in the OCI layout, from one layer tar. */
async function saveArchives(work: string, layerTar: string): Promise<{ legacy: string; oci: string }> {
  const layer = readFileSync(layerTar);
  const diff = sha(layer);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z", config: { Cmd: ["/bin/echo", "loaded and running"], Env: ["PATH=/bin"] }, rootfs: { type: "layers", diff_ids: [`sha256:${diff}`] } }));
  const cfgHex = sha(config);
  const legacy = join(work, "legacy");
  mkdirSync(join(legacy, diff), { recursive: true });
  writeFileSync(join(legacy, diff, "layer.tar"), layer);
  writeFileSync(join(legacy, `${cfgHex}.json`), config);
  writeFileSync(join(legacy, "manifest.json"), JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: ["legacy:1"], Layers: [`${diff}/layer.tar`] }]));
  await runOk(["tar", "-C", legacy, "-cf", join(work, "legacy.tar"), "."]);
  const oci = join(work, "oci");
  mkdirSync(join(oci, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(oci, "blobs", "sha256", diff), layer);
  writeFileSync(join(oci, "blobs", "sha256", cfgHex), config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${cfgHex}`, size: config.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${diff}`, size: layer.length }] }));
  writeFileSync(join(oci, "blobs", "sha256", sha(manifest)), manifest);
  writeFileSync(join(oci, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(join(oci, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${sha(manifest)}`, size: manifest.length, annotations: { "io.containerd.image.name": "docker.io/library/ocimg:2" } }] }));
  await runOk(["tar", "-C", oci, "-cf", join(work, "oci.tar"), "."]);
  return { legacy: join(work, "legacy.tar"), oci: join(work, "oci.tar") };
}

for (const cli of CLIS) {
  test(`${cli.name}: version, images without a registry, run through runc, ports, names, exec, logs, networks`, { timeout: 600_000 }, async () => {
    DOCKER = cli.bin;
    const version = await runOk([cli.bin, "--version"]);
    process.stdout.write(`# ${cli.bin}: ${version}`);
    await suite(cli.prefix, cli.dockerSocket);
  });
}

async function suite(prefix: string, dockerSocket: boolean): Promise<void> {
  const work = mkdtempSync("/tmp/berth-docker-cli-");
  DOCKER_HOST = dockerSocket ? `unix://${join(work, "docker.sock")}` : undefined;
  try {
    busyboxTree(join(work, "root"));
    await runOk(["tar", "-C", join(work, "root"), "-cf", join(work, "bb.tar"), "."]);
    const archives = await saveArchives(work, join(work, "bb.tar"));
    await withLab(prefix, { upstreamDns: true, ...(dockerSocket ? { berthdArgs: ["--docker-socket", join(work, "docker.sock")] } : {}) }, async (lab) => {
      // Version negotiation: the CLI settles on berth's 1.41.
      assert.equal((await dockerOk(lab, ["version", "--format", "{{.Server.APIVersion}}"])).trim(), "1.41");
      assert.match(await dockerOk(lab, ["info", "--format", "{{.OSType}} {{.Swarm.LocalNodeState}}"]), /^linux inactive/);

      // Images: import with --change, inspect, tag, rmi of one tag; pull is refused clearly.
      const id = (await dockerOk(lab, ["import", "--change", "ENV GREETING=hi", "--change", 'CMD ["/bin/sh"]', "--change", "WORKDIR /www", "--change", "EXPOSE 80", "--change", "LABEL org.test=yes", join(work, "bb.tar"), "bb:1"])).trim();
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
      const cfg = JSON.parse(await dockerOk(lab, ["image", "inspect", "bb:1", "--format", "{{json .Config}}"]));
      assert.deepEqual([cfg.Env, cfg.Cmd, cfg.WorkingDir, cfg.ExposedPorts, cfg.Labels], [["GREETING=hi"], ["/bin/sh"], "/www", { "80/tcp": {} }, { "org.test": "yes" }]);
      await dockerOk(lab, ["tag", "bb:1", "busybox"]);
      assert.match(await dockerOk(lab, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]), new RegExp(`busybox:latest ${id.slice(7, 19)}`));
      assert.match(await dockerOk(lab, ["rmi", "busybox"]), /Untagged: busybox:latest/);
      assert.match(await dockerOk(lab, ["image", "inspect", "bb:1", "--format", "{{.Id}}"]), new RegExp(id), "the other tag keeps the image");
      const pull = await docker(lab, ["pull", "alpine"]);
      assert.equal(pull.code, 1);
      assert.match(pull.stderr, /berth has no registry/);
      const missing = await docker(lab, ["run", "--rm", "nothere:1", "true"]);
      assert.equal(missing.code, 125);
      assert.match(missing.stderr, /Unable to find image 'nothere:1' locally/);

      // docker load: Docker's legacy layout and the OCI layout, then run what was loaded.
      assert.match(await dockerOk(lab, ["load", "-i", archives.legacy]), /Loaded image: legacy:1/);
      assert.match(await dockerOk(lab, ["load", "-i", archives.oci]), /Loaded image: ocimg:2/);
      assert.equal(await dockerOk(lab, ["run", "--rm", "legacy:1"]), "loaded and running\n");
      assert.equal(await dockerOk(lab, ["run", "--rm", "ocimg:2"]), "loaded and running\n");

      // run: its own PID namespace, the image's Env and WorkingDir, exit codes as Docker's.
      const ps = await dockerOk(lab, ["run", "--rm", "bb:1", "ps", "-o", "pid,comm"]);
      assert.deepEqual(ps.trim().split("\n").slice(1).map((l) => l.trim()), ["1 ps"], `ps sees only its own process:\n${ps}`);
      assert.equal(await dockerOk(lab, ["run", "--rm", "bb:1", "sh", "-c", "echo $GREETING from $(pwd)"]), "hi from /www\n");
      assert.equal((await docker(lab, ["run", "--rm", "bb:1", "sh", "-c", "exit 3"])).code, 3);
      assert.equal(await dockerOk(lab, ["run", "-i", "--rm", "bb:1", "cat"], { input: "typed into run -i\n" }), "typed into run -i\n");
      const nocmd = await docker(lab, ["run", "--rm", "bb:1", "nosuchcmd"]);
      assert.equal(nocmd.code, 127);
      assert.match(nocmd.stderr, /executable file not found in \$PATH/);

      // A user network, a published port answering from outside, names between containers.
      await dockerOk(lab, ["network", "create", "--subnet", "10.77.0.0/24", "app"]);
      await dockerOk(lab, ["run", "-d", "--name", "web", "--network", "app", "-p", "8080:80", "bb:1", "httpd", "-f", "-p", "80", "-h", "/www"]);
      assert.equal((await dockerOk(lab, ["port", "web", "80"])).trim(), "0.0.0.0:8080");
      const page = await lab.inOutside(["curl", "-sS", "--max-time", "5", "--retry", "5", "--retry-connrefused", `http://${HOST_IP}:8080/`]);
      assert.equal(page.stdout, "hello from an imported image\n", `published port from outside: ${page.stderr}`);
      assert.equal(await dockerOk(lab, ["run", "--rm", "--network", "app", "bb:1", "wget", "-qO-", "http://web/"]), "hello from an imported image\n");
      const net = JSON.parse(await dockerOk(lab, ["network", "inspect", "app"]))[0];
      assert.equal(net.Name, "app");
      assert.equal(net.IPAM.Config[0].Subnet, "10.77.0.0/24");
      assert.equal(Object.values(net.Containers as Record<string, { Name: string }>).map((c) => c.Name).join(), "web");

      // exec: output, exit code, stdin, a missing command.
      const ex = await docker(lab, ["exec", "web", "sh", "-c", "echo out; echo err >&2; exit 4"]);
      assert.deepEqual([ex.code, ex.stdout, ex.stderr], [4, "out\n", "err\n"]);
      assert.equal(await dockerOk(lab, ["exec", "-i", "web", "cat"], { input: "through stdin\n" }), "through stdin\n");
      assert.equal((await docker(lab, ["exec", "web", "nosuchcmd"])).code, 127);

      // logs -f follows until the container ends.
      await dockerOk(lab, ["run", "-d", "--name", "lg", "bb:1", "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"]);
      assert.equal(await dockerOk(lab, ["logs", "-f", "lg"]), "line 1\nline 2\nline 3\n");
      assert.equal(await dockerOk(lab, ["logs", "--tail", "1", "lg"]), "line 3\n");
      assert.equal((await dockerOk(lab, ["inspect", "lg", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.Config.Image}}"])).trim(), "exited 0 bb:1");

      // Restart policies: on-failure:2 runs it three times in all; always stays stopped after docker stop.
      await dockerOk(lab, ["run", "-d", "--name", "rf", "--restart", "on-failure:2", "bb:1", "sh", "-c", "echo ran; exit 1"]);
      await waitUntil("rf exited after 2 restarts", async () => (await dockerOk(lab, ["inspect", "rf", "--format", "{{.State.Status}} {{.RestartCount}}"])).trim());
      assert.equal(await dockerOk(lab, ["logs", "rf"]), "ran\nran\nran\n");
      await dockerOk(lab, ["run", "-d", "--name", "al", "--restart", "always", "bb:1", "sleep", "1000"]);
      await dockerOk(lab, ["stop", "-t", "0", "al"]);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await dockerOk(lab, ["inspect", "al", "--format", "{{.State.Status}} {{.HostConfig.RestartPolicy.Name}}"])).trim(), "exited always", "a stopped container is not restarted");

      // An image in use cannot be removed; rm -f; the network then goes.
      const inUse = await docker(lab, ["rmi", "bb:1"]);
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, /conflict: unable to (remove|delete)/);
      await dockerOk(lab, ["rm", "-f", "web", "lg", "rf", "al"]);
      await dockerOk(lab, ["network", "rm", "app"]);
      assert.equal((await dockerOk(lab, ["ps", "-aq"])).trim(), "");
      assert.match(await dockerOk(lab, ["rmi", "bb:1"]), /Deleted: sha256:/);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
