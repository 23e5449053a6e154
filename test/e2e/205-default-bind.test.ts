// The host address used by -p without one: berthd --default-bind-ip, or a network's
// com.docker.network.bridge.host_binding_ipv4 option; a network without the option follows the
// daemon's flag as it is at each start.

import assert from "node:assert/strict";
import { test } from "node:test";
import { withLab } from "./lab.js";
import { HOST_IP, runServer } from "./publish-helpers.js";

test("default bind address: --default-bind-ip and host_binding_ipv4", async () => {
  await withLab("p205", { startBerthd: false }, async (lab) => {
    await lab.startBerthd(["--default-bind-ip", "127.0.0.1"]);
    await lab.berthOk(["network", "create", "plain"]);
    await lab.berthOk(["network", "create", "-o", `com.docker.network.bridge.host_binding_ipv4=${HOST_IP}`, "bound"]);
    await runServer(lab, "lo1", ["--network", "plain", "-p", "8080:80"], [{ proto: "tcp", port: 80 }]);
    await runServer(lab, "hb1", ["--network", "bound", "-p", "8081:80"], [{ proto: "tcp", port: 80 }]);
    assert.equal((await lab.berthOk(["port", "lo1"])).trim(), "80/tcp -> 127.0.0.1:8080");
    assert.equal((await lab.berthOk(["port", "hb1"])).trim(), `80/tcp -> ${HOST_IP}:8081`);
    // 127.0.0.1 only: reachable from the host, not from the outside.
    assert.ok((await lab.tcpConnect(lab.hostNsPath, "127.0.0.1", 8080)).ok, "host reaches 127.0.0.1:8080");
    assert.ok(!(await lab.tcpConnect(lab.outsideNsPath, HOST_IP, 8080, { timeoutMs: 1500 })).ok, "the outside does not reach a 127.0.0.1 binding");
    assert.ok((await lab.tcpConnect(lab.outsideNsPath, HOST_IP, 8081)).ok, "the outside reaches the host_binding_ipv4 binding");

    // Without the flag, the network without the option binds every address; the option stays.
    await lab.stopBerthd();
    await lab.startBerthd([]);
    await runServer(lab, "lo2", ["--network", "plain", "-p", "8082:80"], [{ proto: "tcp", port: 80 }]);
    await runServer(lab, "hb2", ["--network", "bound", "-p", "8083:80"], [{ proto: "tcp", port: 80 }]);
    assert.equal((await lab.berthOk(["port", "lo2"])).trim(), "80/tcp -> 0.0.0.0:8082");
    assert.equal((await lab.berthOk(["port", "hb2"])).trim(), `80/tcp -> ${HOST_IP}:8083`);
  });
});
