#!/usr/bin/env bash
# Starts a local three-node NATS cluster (from the nats-server Go module,
# via `provisioning nats`) and two `provisioning serve` instances against it,
# all on loopback, with streams replicated three times. Ctrl-C stops them
# all, instances first.
#
# The servers admit only clients proving the nkey in $DATA/nats.nk (created
# by the first server to start, mode 0600), and routes only with a secret
# derived from it; the instances and the nats CLI use that file:
#   nats --server nats://127.0.0.1:4222 --nkey ./data/cluster/nats.nk stream ls
#
#   instance 1: orchestrator http://127.0.0.1:9090  control center http://127.0.0.1:9080
#   instance 2: orchestrator http://127.0.0.1:9091  control center http://127.0.0.1:9081
#   NATS:       nats://127.0.0.1:4222,4223,4224 (routes on 6222-6224)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/provisioning}
DATA=${DATA:-./data/cluster}
mkdir -p "$DATA"
pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping..."
  # Instances first (they hand their jobs back), then NATS.
  for pid in "${pids[@]:3}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:3}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:0:3}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped"
}
trap stop INT TERM EXIT

routes="nats-route://127.0.0.1:6222,nats-route://127.0.0.1:6223,nats-route://127.0.0.1:6224"
for i in 1 2 3; do
  "$BIN" nats --name "n$i" --data-dir "$DATA/n$i" --listen "127.0.0.1:$((4221 + i))" --client-nkey "$DATA/nats.nk" \
    --cluster-name provisioning --cluster-listen "127.0.0.1:$((6221 + i))" --routes "$routes" \
    2> >(sed -u "s/^/[nats n$i] /" >&2) &
  pids+=($!)
done
urls="nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
for i in 1 2; do
  "$BIN" serve --nats-url "$urls" --nats-nkey "$DATA/nats.nk" --secrets-key-file "$DATA/secrets.key" --replicas 3 --data-dir "$DATA/instance$i" \
    --orchestrator-addr "127.0.0.1:$((9089 + i))" --control-addr "127.0.0.1:$((9079 + i))" "$@" \
    2> >(sed -u "s/^/[instance $i] /" >&2) &
  pids+=($!)
done
echo "cluster running: orchestrators on :9090 and :9091, control centers on :9080 and :9081; Ctrl-C stops it"
wait -n "${pids[@]}" || true
