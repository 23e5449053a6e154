#!/usr/bin/env bash
# berth in one command: installs what is missing, builds, starts berthd (with its embedded
# local store) inside a throw-away lab namespace, and shows sandboxes talking on a user network.
# Nothing touches this machine's own network namespace; everything is removed at the end.
#   bash scripts/demo.sh          run the demo and clean up
#   bash scripts/demo.sh --keep   leave berthd and the lab running; prints how to use them and how to stop
#   bash scripts/demo.sh --cluster  3 hosts and a 3-member etcd in namespaces: an overlay network,
#                                   a sandbox on h1 reached by name from h2 and h3, a service across
#                                   hosts published on 8080 and reached from every host with the
#                                   client's address kept, then a host dies (bench/cluster-demo.ts)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${1:-}" = "--cluster" ]; then
  bash scripts/setup.sh >/dev/null
  exec node dist/bench/cluster-demo.js
fi
keep=0; [ "${1:-}" = "--keep" ] && keep=1

bash scripts/setup.sh >/dev/null
lab=berthdemo
dir=$(mktemp -d /tmp/berth-demo-XXXXXX)
berth() { node bin/berth "$@"; }
export BERTH_HOST="unix://$dir/berth.sock"

cleanup() {
  set +e
  if [ -f "$dir/berthd.pid" ]; then
    for id in $(berth ps -aq 2>/dev/null); do berth rm -f "$id" >/dev/null 2>&1; done
    kill "$(cat "$dir/berthd.pid")" 2>/dev/null; sleep 0.5
  fi
  grep " $dir/" /proc/self/mountinfo | awk '{print $5}' | xargs -r -n1 umount 2>/dev/null
  ip netns del "$lab-host" 2>/dev/null; ip netns del "$lab-out" 2>/dev/null
  rm -rf "$dir"
}
if [ "$keep" -eq 0 ]; then trap cleanup EXIT; fi

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# The lab: a "host" namespace for berthd and an "outside" namespace on a veth, TEST-NET addresses.
ip netns add "$lab-host"; ip netns add "$lab-out"
ip -n "$lab-host" link set lo up; ip -n "$lab-out" link set lo up
ip -n "$lab-host" link add eth0 type veth peer name eth0 netns "$lab-out"
ip -n "$lab-host" addr add 192.0.2.1/24 dev eth0; ip -n "$lab-out" addr add 192.0.2.2/24 dev eth0
ip -n "$lab-host" link set eth0 up; ip -n "$lab-out" link set eth0 up
echo 'nameserver 192.0.2.2' > "$dir/resolv.conf"

nsenter --net="/run/netns/$lab-host" node bin/berthd --data-root "$dir/data" --exec-root "$dir/exec" \
  --socket "$dir/berth.sock" --resolv-conf "$dir/resolv.conf" 2> "$dir/berthd.log" &
echo $! > "$dir/berthd.pid"
for _ in $(seq 50); do berth network ls >/dev/null 2>&1 && break; sleep 0.1; done
echo "berthd is running in lab namespace $lab-host (log: $dir/berthd.log)"

step berth network create my-net
berth network create my-net >/dev/null
berth network ls
step berth run -d --name web --network my-net --network-alias portainer-web -- busybox httpd -f -p 9000 -h "$dir/www"
mkdir -p "$dir/www"; echo "hello from web" > "$dir/www/index.html"
berth run -d --name web --network my-net --network-alias portainer-web -- busybox httpd -f -p 9000 -h "$dir/www" | cut -c1-12
step berth run -d --name client --network my-net -- sleep 600
berth run -d --name client --network my-net -- sleep 600 | cut -c1-12
step berth ps
berth ps
web_ip=$(berth inspect web | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].NetworkSettings.Networks["my-net"].IPAddress))')
step berth exec client -- busybox wget -qO- "http://$web_ip:9000/"
berth exec client -- timeout 3 busybox wget -qO- "http://$web_ip:9000/"
step berth exec client -- busybox wget -qO- http://portainer-web:9000/
berth exec client -- timeout 3 busybox wget -qO- http://portainer-web:9000/
step berth run --rm --network none -- ip -br addr
berth run --rm --network none -- ip -br addr
step berth rules
berth rules

if [ "$keep" -eq 1 ]; then
  cat <<MSG

berthd keeps running. Try:
  export BERTH_HOST=$BERTH_HOST
  node bin/berth ps
Stop it and remove the lab:
  kill $(cat "$dir/berthd.pid"); ip netns del $lab-host; ip netns del $lab-out
MSG
fi
