#!/usr/bin/env bash
# End-to-end throughput of rivven-mqtt against a same-run libmosquitto baseline, on this machine.
#
#   bench/e2e.sh                                  # live QoS 0 (N=200000) and QoS 1 drain (N=50000), 256 B, 3 runs (median)
#   bench/e2e.sh --runs 5 --json results.json     # median of 5, raw data as JSON
#   bench/e2e.sh --messages 20000 --payload 64    # smaller and faster (N for both scenarios)
#   bench/e2e.sh --scenarios drain --drain-messages 100000
#   bench/e2e.sh --scenarios live,rivven          # also forwarding to Rivven: QoS 0, N=200000, through the local log
#                                                 # to `rivven-mqtt test-server` (in-memory stand-in), vs live mqsub
#   bench/e2e.sh --scenarios drain --drain-qos 0 --connections 1,2
#                                                 # QoS 0 drain; one gateway row per `connections: C` (with
#                                                 # `shared_group`), each against the same one-mqsub baseline runs
#
# Builds $BENCH_OUT/build/mqpub and mqsub from the shared baseline harness's C sources (/work/shared/bench/src,
# or ../shared/bench/src beside the repository), builds rivven-mqtt in release at the repository root, then runs
# e2e.py (stdlib Python): one private mosquitto per run on a free 127.0.0.1 port (and for `rivven` one
# `rivven-mqtt test-server --port 0 --no-retain --report-ms 20`, the in-memory Rivven stand-in of the same binary),
# every process stopped by PID, temp dirs removed. e2e.py's docstring (python3 bench/e2e.py --help) says exactly what
# is timed; `rivven` ends at the first test-server report line with records >= N (20 ms resolution).
#
# Environment: BENCH_OUT (default ./bench-results), SHARED_BENCH_SRC (the folder with mqpub.c/mqsub.c),
# RIVVEN_MQTT (use this binary instead of building one), SKIP_SWIFT_BUILD=1 (use the existing release build).
# Exit status: 0 when every run succeeded with no loss, 1 otherwise, 2 on a setup failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="${BENCH_OUT:-$PWD/bench-results}"
mkdir -p "$OUT/build"
OUT="$(cd "$OUT" && pwd)"

for cmd in gcc mosquitto python3; do
    command -v "$cmd" >/dev/null || { echo "e2e.sh: $cmd is required (apt-get install mosquitto libmosquitto-dev gcc python3)" >&2; exit 2; }
done

src=""
for candidate in "${SHARED_BENCH_SRC:-}" /work/shared/bench/src "$ROOT/../shared/bench/src"; do
    if [[ -n "$candidate" && -f "$candidate/mqpub.c" && -f "$candidate/mqsub.c" ]]; then
        src="$candidate"
        break
    fi
done
[[ -n "$src" ]] || { echo "e2e.sh: mqpub.c/mqsub.c not found (set SHARED_BENCH_SRC)" >&2; exit 2; }

echo "e2e.sh: building mqpub and mqsub from $src into $OUT/build" >&2
gcc -O2 -Wall -Wextra -o "$OUT/build/mqpub" "$src/mqpub.c" -lmosquitto
gcc -O2 -Wall -Wextra -o "$OUT/build/mqsub" "$src/mqsub.c" -lmosquitto

if [[ -n "${RIVVEN_MQTT:-}" ]]; then
    rivven="$RIVVEN_MQTT"
else
    if [[ "${SKIP_SWIFT_BUILD:-0}" != 1 ]]; then
        echo "e2e.sh: swift build -c release --product rivven-mqtt (in $ROOT)" >&2
        (cd "$ROOT" && swift build -c release --product rivven-mqtt >&2)
    fi
    rivven="$(cd "$ROOT" && swift build -c release --show-bin-path)/rivven-mqtt"
fi
[[ -x "$rivven" ]] || { echo "e2e.sh: no rivven-mqtt binary at $rivven" >&2; exit 2; }
echo "e2e.sh: gateway $rivven ($("$rivven" version 2>/dev/null | head -1 || true)); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" >&2

export E2E_COMMAND="bench/e2e.sh $*"
exec python3 "$HERE/e2e.py" --mqpub "$OUT/build/mqpub" --mqsub "$OUT/build/mqsub" --rivven "$rivven" "$@"
