// A real TTY (issue 12), typed into as a person would, in tmux: `docker run -it` and `berth run
// -it` give the program a terminal (tty names /dev/pts/N) of the user's size, a resize of the
// user's terminal reaches it (`stty size`), ctrl-p ctrl-q detaches and leaves it running,
// `attach` (also with --detach-keys) comes back, `exec -it` gets a terminal of its own, exit codes
// come through, and -it without a terminal is refused as docker refuses it.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { withLab, type Lab } from "./lab.js";
import { run, runOk } from "./lab-exec.js";
import { Tmux } from "./tmux.js";

const BERTH = join(dirname(fileURLToPath(import.meta.url)), "../../../bin/berth");

function env(lab: Lab): Record<string, string> {
  return { DOCKER_HOST: lab.berthHost, BERTH_HOST: lab.berthHost, DOCKER_CONFIG: join(lab.dir, "docker-config") };
}

/** Types cmd followed by a marker echo, and waits for the marker: the command has finished. */
async function typeAndWait(t: Tmux, cmd: string, n: number): Promise<void> {
  await t.type(`${cmd}; echo done-$((${n}+1000))`);
  await t.waitFor(new RegExp(`^done-${n + 1000}\\s*$`, "m"));
}

/** Waits for the user's shell to be back (its prompt last on the screen), then asks for $?. */
async function lastCode(t: Tmux, n: number): Promise<number> {
  await t.waitFor(/tt\$ ?$/);
  await t.type(`echo rc-${n}=$?`);
  return Number((await t.waitFor(new RegExp(`rc-${n}=(\\d+)`)))[1]);
}

/**
 * Resizes the user's terminal and waits until the program in it sees the new size. The size
 * travels tmux -> the CLI's SIGWINCH -> a resize request -> berthd -> the relay's ioctl; on a busy
 * machine a command typed at once can run before it lands, so ask again (as a person would)
 * until it shows, within 30 s.
 */
async function resizeAndSee(t: Tmux, rows: number, cols: number): Promise<void> {
  await t.resize(rows, cols);
  const want = new RegExp(`^${rows} ${cols}\\s*$`, "m");
  const deadline = Date.now() + 30_000;
  for (;;) {
    await t.type("stty size");
    const seen = await t.waitFor(want, 3_000).catch((e: Error) => e);
    if (!(seen instanceof Error)) return;
    if (Date.now() > deadline) throw seen;
  }
}

/** The checks both CLIs pass; `cli` is "docker" or berth's path, `run` what starts the shell. */
async function session(lab: Lab, t: Tmux, cli: string, start: string, prompt: RegExp, name: string): Promise<void> {
  await t.type(start);
  await t.waitFor(prompt);
  // A terminal of the user's size.
  await t.type("stty size; tty");
  await t.waitFor(/^30 100\s*$/m);
  await t.waitFor(/^\/dev\/pts\/\d+\s*$/m);
  // The user's terminal grows: the program sees it.
  await resizeAndSee(t, 40, 120);
  // ctrl-p ctrl-q: back at the user's shell, the sandbox runs on.
  await t.keys("C-p", "C-q");
  assert.equal(await lastCode(t, 1), 0, "detaching from run -it succeeds");
  assert.equal((await runOk(["docker", "inspect", "-f", "{{.State.Running}}", name], { env: { ...process.env, ...env(lab) } })).trim(), "true");

  // attach with other detach keys: typed text reaches the shell; ctrl-x x detaches.
  await t.clear();
  await t.type(`${cli} attach --detach-keys ctrl-x,x ${name}`);
  await new Promise((r) => setTimeout(r, 1500));
  await t.type("echo attached-$((6*7))");
  await t.waitFor(/^attached-42\s*$/m);
  await t.keys("C-x", "x");
  await t.waitFor(/read escape sequence/);
  assert.equal(await lastCode(t, 2), 1, "attach ends with 1 after the detach keys, as docker attach");

  // exec -it: a terminal of its own, resized too; its exit code.
  await t.clear();
  if (cli === BERTH) {
    // berth exec -t sends the size with the exec: the command has it from its start.
    await t.type(`${cli} exec -it ${name} stty size`);
    await t.waitFor(/^40 120\s*$/m);
    await t.clear();
  }
  await t.type(`${cli} exec -it ${name} /bin/sh`);
  await t.waitFor(prompt);
  await typeAndWait(t, "tty", 1);
  const ttys = (await t.screen()).match(/\/dev\/pts\/\d+/g) ?? [];
  assert.equal(ttys.length, 1);
  await resizeAndSee(t, 25, 90);
  await t.type("exit 7");
  assert.equal(await lastCode(t, 3), 7, "exec -it exits with the command's code");

  // attach again and end the shell: attach exits with its code.
  await t.clear();
  await t.type(`${cli} attach ${name}`);
  await new Promise((r) => setTimeout(r, 1500));
  await t.type("exit 3");
  assert.equal(await lastCode(t, 4), 3, "attach exits with the sandbox's code");
  await t.clear();
}

test("docker run/attach/exec -it and berth run/attach/exec -it: a real terminal, resize, detach keys", { timeout: 600_000 }, async () => {
  const work = mkdtempSync("/tmp/berth-tty-");
  try {
    const root = join(work, "root");
    mkdirSync(join(root, "bin"), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "bin", "busybox"));
    for (const a of ["sh", "stty", "tty", "echo", "sleep", "cat"]) symlinkSync("busybox", join(root, "bin", a));
    await runOk(["tar", "-C", root, "-cf", join(work, "bb.tar"), "."]);
    await withLab("dt", {}, async (lab) => {
      const e = { ...process.env, ...env(lab) };
      await runOk(["docker", "import", "--change", 'CMD ["/bin/sh"]', "--change", "ENV PATH=/bin", join(work, "bb.tar"), "bb:tty"], { env: e });
      const t = await Tmux.start(`${lab.name}-tty`, env(lab));
      try {
        // The program has the user's size from its first instruction: docker sends it with the
        // create (HostConfig.ConsoleSize), berth too, and it is set before the program starts.
        await t.type(`docker run -it --rm bb:tty stty size; ${BERTH} run -it --rm -- stty size; echo sizes-$((1+1))`);
        await t.waitFor(/^30 100\s*\n30 100\s*\nsizes-2\s*$/m);
        await t.clear();
        await session(lab, t, "docker", "docker run -it --name t1 bb:tty", /^\/ # $/m, "t1");
        assert.equal((await runOk(["docker", "inspect", "-f", "{{.State.ExitCode}}", "t1"], { env: e })).trim(), "3");
        await t.resize(30, 100);
        await session(lab, t, BERTH, `${BERTH} run -it --name h1 -- /bin/sh`, /^# $/m, "h1");
      } finally {
        await t.stop();
      }

      // -it without a terminal: refused before anything is created, exit 1, as docker.
      for (const argv of [["docker", "run", "-it", "--rm", "bb:tty", "true"], [BERTH, "run", "-it", "--rm", "--", "true"]]) {
        const r = await run(argv, { env: e, input: "" });
        assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /the input device is not a TTY/);
      }
      // run -t without -i: the program has a terminal, its output arrives as the terminal shows it.
      const out = await runOk(["docker", "run", "-t", "--rm", "bb:tty", "sh", "-c", "tty; echo two"], { env: e });
      assert.match(out, /^\/dev\/pts\/\d+\r\ntwo\r\n$/);
      // resize of a sandbox without a TTY answers 200 and changes nothing; of a stopped one, 409.
      const bad = await run(["docker", "run", "-it", "--detach-keys", "alt-x", "--rm", "bb:tty", "true"], { env: e, input: "" });
      assert.notEqual(bad.code, 0);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("docker run --user and an image's USER: the process runs as that user, exec too; an unknown name is refused", { timeout: 300_000 }, async () => {
  const work = mkdtempSync("/tmp/berth-user-");
  try {
    const root = join(work, "root");
    mkdirSync(join(root, "bin"), { recursive: true });
    mkdirSync(join(root, "etc"), { recursive: true });
    copyFileSync("/bin/busybox", join(root, "bin", "busybox"));
    for (const a of ["sh", "id", "sleep"]) symlinkSync("busybox", join(root, "bin", a));
    writeFileSync(join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
    writeFileSync(join(root, "etc", "group"), "root:x:0:\napp:x:1000:\nstaff:x:50:app\n");
    await runOk(["tar", "-C", root, "-cf", join(work, "u.tar"), "."]);
    await withLab("dt", {}, async (lab) => {
      const e = { ...process.env, ...env(lab) };
      const docker = (args: string[]) => runOk(["docker", ...args], { env: e });
      await docker(["import", "--change", "USER app", "--change", 'CMD ["id"]', "--change", "ENV PATH=/bin", join(work, "u.tar"), "u:1"]);
      assert.equal(await docker(["run", "--rm", "u:1"]), "uid=1000(app) gid=1000(app) groups=50(staff)\n");
      assert.equal(await docker(["run", "--rm", "--user", "root", "u:1"]), "uid=0(root) gid=0(root)\n");
      assert.equal(await docker(["run", "--rm", "--user", "4242:7", "u:1"]), "uid=4242 gid=7\n");
      await docker(["run", "-d", "--name", "u1", "u:1", "sleep", "300"]);
      assert.equal(await docker(["exec", "u1", "id", "-u"]), "1000\n");
      assert.equal(await docker(["exec", "-u", "0", "u1", "id", "-u"]), "0\n");
      assert.equal((await docker(["inspect", "-f", "{{.Config.User}}", "u1"])).trim(), "app");
      const bad = await run(["docker", "run", "--rm", "--user", "nobody2", "u:1"], { env: e });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /unable to find user nobody2: no matching entries in passwd file/);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
