// S16-S17 through berthd and the CLI: a user rule in berth's chain `user-forward` (drop source X
// to sandbox web1 port 80) takes effect at once, before berth's rules, and survives `berth run`
// and `berth rm` of other sandboxes, network changes, a berthd restart and a berthd crash.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Lab, OUTSIDE_IP, WEB_IP, withLab } from "./lab.js";
import { ipOn } from "./foundation.js";
import { HOST_IP, reachAll, runServer, waitListening } from "./publish-helpers.js";

const X = WEB_IP; // the outside's second address: the source the user blocks

/** Which of (X, the other outside address) reach hostIP:port, as "X:yes other:no". */
async function fromOutside(lab: Lab, port: number): Promise<string> {
  const [x, other] = await reachAll(lab, lab.outsideNsPath, [
    { ip: HOST_IP, port, bind: X },
    { ip: HOST_IP, port, bind: OUTSIDE_IP },
  ]);
  return `X:${x!.ok ? "yes" : "no"} other:${other!.ok ? "yes" : "no"}`;
}

test("S17 user chain: a user drop rule works at once and survives run/rm, network changes, restart and crash", async () => {
  await withLab("p240", {}, async (lab) => {
    await runServer(lab, "web1", ["-p", "8080:80"], [{ proto: "tcp", port: 80 }]);
    await runServer(lab, "web2", ["-p", "8081:80"], [{ proto: "tcp", port: 80 }]);
    const web1 = await ipOn(lab, "web1", "bridge");
    assert.equal(await fromOutside(lab, 8080), "X:yes other:yes", "before the user rule both sources reach web1");

    // S16: berth rules shows berth's table, with the (empty) user chain and the jump to it.
    const rules0 = await lab.berthOk(["rules"]);
    assert.match(rules0, /table inet berth/);
    assert.match(rules0, /chain user-forward/);
    assert.match(rules0, /jump user-forward/);
    assert.match(rules0, /8080/, `berth rules shows the published port:\n${rules0}`);

    // S17: the user's rule, as docs/firewall.md shows it (after DNAT: sandbox address, port 80).
    await lab.inHostOk(["nft", "add", "rule", "inet", "berth", "user-forward", "ip", "saddr", X, "ip", "daddr", web1, "tcp", "dport", "80", "drop", "comment", "S17"]);
    const check = async (when: string) => {
      assert.equal(await fromOutside(lab, 8080), "X:no other:yes", `${when}: X must be dropped to web1, the other source not`);
      assert.equal(await fromOutside(lab, 8081), "X:yes other:yes", `${when}: X still reaches web2`);
      const chain = await lab.inHostOk(["nft", "list", "chain", "inet", "berth", "user-forward"]);
      assert.match(chain, new RegExp(`ip saddr ${X.replace(/\./g, "\\.")} ip daddr ${web1.replace(/\./g, "\\.")} tcp dport 80 drop comment "S17"`), `${when}:\n${chain}`);
      assert.match(await lab.berthOk(["rules"]), /comment "S17"/, `${when}: berth rules shows the user's rule`);
    };
    await check("at once");

    // Every change berth makes: run, rm, network create/rm, a sandbox on a new network.
    await runServer(lab, "web3", ["-p", "8082:80"], [{ proto: "tcp", port: 80 }]);
    await check("after berth run web3");
    await lab.berthOk(["network", "create", "net2"]);
    await runServer(lab, "web4", ["--network", "net2", "-p", "8083:80"], [{ proto: "tcp", port: 80 }]);
    await check("after a new network and a sandbox on it");
    await lab.berthOk(["rm", "-f", "web3"]);
    await lab.berthOk(["rm", "-f", "web4"]);
    await lab.berthOk(["network", "rm", "net2"]);
    await check("after berth rm and network rm");
    await lab.berthOk(["restart", "web2"]);
    await waitListening(lab, "web2", [{ proto: "tcp", port: 80 }]);
    await check("after berth restart web2");

    // While berthd is down the kernel keeps forwarding (and filtering) as before.
    await lab.stopBerthd();
    assert.equal(await fromOutside(lab, 8080), "X:no other:yes", "with berthd stopped: published ports and the user rule still apply");
    assert.equal(await fromOutside(lab, 8081), "X:yes other:yes", "with berthd stopped: web2 still published");
    await lab.startBerthd();
    await check("after berthd was stopped and started");

    // berthd restarts and crashes (the table is rebuilt at start; the user chain is kept).
    await lab.restartBerthd();
    await check("after a berthd restart");
    await lab.killBerthd();
    await lab.startBerthd();
    await check("after a berthd crash and start");

    // Deleting the rule gives X back its access.
    const handles = await lab.inHostOk(["nft", "-a", "list", "chain", "inet", "berth", "user-forward"]);
    const handle = /comment "S17" # handle (\d+)/.exec(handles)?.[1];
    assert.ok(handle, handles);
    await lab.inHostOk(["nft", "delete", "rule", "inet", "berth", "user-forward", "handle", handle]);
    assert.equal(await fromOutside(lab, 8080), "X:yes other:yes", "without the user rule X reaches web1 again");
  });
});
