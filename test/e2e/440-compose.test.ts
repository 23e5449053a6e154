// Debian's docker-compose (1.29.2) against berthd (issue 12, S31, seed 001's shape): user
// networks with ipam and internal, ports, expose, aliases, links, depends_on, environment, a
// bind mount, a named volume and restart policies. Services reach each other by service name, alias and link;
// the published port answers from outside; a second `up` changes nothing; `down` leaves nothing.

import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { HOST_IP, withLab } from "./lab.js";
import { run, runOk } from "./lab-exec.js";

const COMPOSE_FILE = `version: "3.8"
services:
  db:
    image: bb:1
    command: ["sh", "-c", "echo kept > /vol/x; exec httpd -f -p 5432 -h /www"]
    volumes: ["data:/vol"]
    networks:
      backend:
        aliases: [database]
    restart: unless-stopped
  web:
    image: bb:1
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["8080:80"]
    expose: ["80"]
    environment:
      DB_HOST: database
    links: ["db:dbhost"]
    depends_on: [db]
    volumes: ["./shared:/data:ro", "data:/vol"]
    networks: [backend, front]
    restart: always
volumes:
  data: {}
networks:
  backend:
    internal: true
    ipam:
      config:
        - subnet: 10.99.0.0/24
  front: {}
`;

test("docker-compose: up -d, ps, names between services, published port, logs, a second up changes nothing, down", { timeout: 600_000, skip: existsSync("/usr/bin/docker-compose") ? false : "docker-compose is not installed (scripts/setup.sh installs it)" }, async () => {
  const work = mkdtempSync("/tmp/berth-compose-");
  try {
    const root = join(work, "root");
    for (const d of ["bin", "www"]) mkdirSync(join(root, d), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "bin", "busybox"));
    for (const a of ["sh", "cat", "httpd", "wget", "ls"]) symlinkSync("busybox", join(root, "bin", a));
    writeFileSync(join(root, "www", "index.html"), "hello from compose\n");
    await runOk(["tar", "-C", root, "-cf", join(work, "bb.tar"), "."]);
    const project = join(work, "proj");
    mkdirSync(join(project, "shared"), { recursive: true });
    writeFileSync(join(project, "shared", "note.txt"), "bound\n");
    writeFileSync(join(project, "docker-compose.yml"), COMPOSE_FILE);
    await withLab("dco", { upstreamDns: true }, async (lab) => {
      const env = { ...process.env, DOCKER_HOST: lab.berthHost, DOCKER_CONFIG: join(lab.dir, "docker-config"), COMPOSE_PROJECT_NAME: "proj" };
      // docker-compose reads the file (and resolves ./shared) from the project directory.
      const inProject = async (args: string[]) => {
        const r = await run(["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", project, "docker-compose", ...args], { env, timeoutMs: 120_000 });
        assert.equal(r.code, 0, `docker-compose ${args.join(" ")}: ${r.stderr}`);
        return r.stdout + r.stderr;
      };
      const docker = async (args: string[]) => {
        const r = await run(["docker", ...args], { env, timeoutMs: 60_000 });
        assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      };
      await docker(["import", join(work, "bb.tar"), "bb:1"]);

      assert.match(await inProject(["up", "-d"]), /Creating proj_web_1 \.\.\. done/);
      const ps = await inProject(["ps"]);
      assert.match(ps, /proj_db_1 .* Up/);
      assert.match(ps, /proj_web_1 .* Up .*0\.0\.0\.0:8080->80\/tcp/);

      // Names: service name, network alias and link alias; the environment; the bind mount.
      const seen = await docker(["exec", "proj_web_1", "sh", "-c", "wget -qO- http://db:5432/; wget -qO- http://database:5432/; wget -qO- http://dbhost:5432/; echo $DB_HOST; cat /data/note.txt"]);
      assert.equal(seen, "hello from compose\n".repeat(3) + "database\nbound\n");
      const page = await lab.inOutside(["curl", "-sS", "--max-time", "5", "--retry", "5", "--retry-connrefused", `http://${HOST_IP}:8080/`]);
      assert.equal(page.stdout, "hello from compose\n", `published port from outside: ${page.stderr}`);
      // The named volume: one directory berth owns, shared by both services, kept by down.
      assert.equal(await docker(["exec", "proj_web_1", "cat", "/vol/x"]), "kept\n");
      assert.match(await docker(["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]), /^proj_data local$/m);
      const backend = JSON.parse(await docker(["network", "inspect", "proj_backend"]))[0];
      assert.deepEqual([backend.Internal, backend.IPAM.Config[0].Subnet], [true, "10.99.0.0/24"]);
      assert.equal((await docker(["inspect", "proj_web_1", "--format", "{{.HostConfig.RestartPolicy.Name}}"])).trim(), "always");

      // A second up with the same file changes nothing.
      const ids = await docker(["ps", "-q", "--no-trunc"]);
      const again = await inProject(["up", "-d"]);
      assert.match(again, /proj_db_1 is up-to-date/);
      assert.match(again, /proj_web_1 is up-to-date/);
      assert.equal(await docker(["ps", "-q", "--no-trunc"]), ids);

      assert.match(await inProject(["logs", "--tail", "5"]), /Attaching to/);
      await inProject(["down", "-t", "1"]);
      assert.equal((await docker(["ps", "-aq"])).trim(), "");
      assert.doesNotMatch(await docker(["network", "ls", "--format", "{{.Name}}"]), /proj_/);
      await docker(["volume", "rm", "proj_data"]);
      assert.equal((await docker(["volume", "ls", "-q"])).trim(), "");
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
