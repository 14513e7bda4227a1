#!/usr/bin/env bash
# Installs what is missing (Debian 12), builds rivven-mqtt, starts a private mosquitto on loopback and runs the
# gateway on examples/local.yaml into a local durable log in a temporary directory, publishes a few demo
# messages, stops the gateway (SIGTERM) and prints the log with `rivven-mqtt log cat`.
# FOLLOW=1 keeps it running (publish with: mosquitto_pub -p PORT -t demo/x -m hi), Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in libmosquitto-dev liburing-dev libssl-dev mosquitto mosquitto-clients pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

swift build -c release --product rivven-mqtt 2>&1 | tail -1
BIN="$(swift build -c release --show-bin-path)/rivven-mqtt"

work="$(mktemp -d)"
port=""
for _ in $(seq 100); do   # a free loopback port: nothing answers on it
    candidate=$((20000 + RANDOM % 40000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[ -n "$port" ] || { echo "no free port found" >&2; exit 1; }
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 0
CONF
/usr/sbin/mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
broker=$!
cleanup() { kill "$gateway" 2>/dev/null || true; kill "$broker" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
echo "mosquitto on 127.0.0.1:$port; rivven-mqtt writes one JSON record per message below" >&2

export MQTT_URL="mqtt://127.0.0.1:$port"
export LOG_DIR="$work/data"
"$BIN" run --config examples/local.yaml &
gateway=$!
sleep 1
mosquitto_pub -p "$port" -q 1 -t sensors/room1/temperature -m '{"c":21.5}'
mosquitto_pub -p "$port" -q 1 -t demo/hello -m 'hello from mosquitto'
mosquitto_pub -p "$port" -q 0 -t demo/counter -m 42
if [ "${FOLLOW:-0}" = "1" ]; then
    echo "publish more with: mosquitto_pub -p $port -t demo/x -m hi" >&2
    echo "read the log with: $BIN log cat --dir $LOG_DIR   (Ctrl-C stops the gateway)" >&2
    wait "$gateway"
else
    sleep 1
    kill -TERM "$gateway"
    wait "$gateway"
    echo "--- the local log ($LOG_DIR), as 'rivven-mqtt log cat' prints it:" >&2
    "$BIN" log cat --dir "$LOG_DIR"
    "$BIN" log stat --dir "$LOG_DIR" >&2
fi
