#!/usr/bin/env python3
"""End-to-end throughput of rivven-mqtt against a same-run libmosquitto baseline (stdlib only).

Started by e2e.sh, which builds the tools and passes their paths. Every run gets a private mosquitto on a free
127.0.0.1 port and a temp dir; every process is started here, stopped by PID and bounded by --run-timeout; temp
dirs are removed (also on SIGINT/SIGTERM).

Scenarios (one row each; baseline and gateway runs are interleaved, the median of --runs is reported)

  live   QoS 0, mqpub floods N messages to an online subscriber.
           baseline: mqsub (clean session) counts N.          rate = N / (mqpub start -> mqsub exit)
           gateway : rivven-mqtt run writes every message.    rate = N / (mqpub start -> last log write)
  drain  QoS 1, a persistent session (clean_session false, fixed client id) is created and left offline, mqpub
         stores N messages at QoS 1, then the subscriber reconnects and drains alone.
           baseline: mqsub drain.                             rate = N / (CONNACK -> N-th message), mqsub's clock
           gateway : rivven-mqtt run, qos 1, clean_session false, PUBACK after the batch is durable.
                                                              rate = N / ("MQTT connected" log ts -> last log write)

  rivven QoS 0 like live, but the gateway forwards to Rivven: `rivven-mqtt run` with a `broker:` section
         (bootstrap_servers, defaults: 1 partition, idempotent) pointing at a `rivven-mqtt test-server --port 0
         --no-retain --report-ms R` this script starts (the in-memory Rivven stand-in; --no-retain counts records
         without keeping them). Every message is appended to the local log (log.fsync: batch) and the forwarder
         sends it from there as IdempotentPublishBatch.
           baseline: the live scenario's mqsub run of the same repetition (run once per repetition, also when only
                     `rivven` is asked for; the ratio is gateway / that run).
           gateway : rate = N / (mqpub start -> t of the first test-server report line with records >= N)
         The report lines are {"t": CLOCK_MONOTONIC seconds (the clock of time.monotonic() here), "records",
         "duplicates", "requests"}, written every R ms (--report-ms, default 20): the end time is late by up to R ms
         (~3 % of a 0.7 s run at R = 20), never early; no interpolation within the interval. After records >= N the
         count must stay still for --settle seconds; then the gateway gets SIGTERM, then the test server, whose
         final statistics line gives the loss check: expected - records stored by Rivven (negative = records
         stored twice); `duplicates` (resent batches Rivven recognised and did not store) is reported beside it, and
         the local log's record count (`log stat`) must be N too. CPU (user+sys from /proc) over mqpub start ->
         the moment the script read that report line (within --poll-ms of it), separately for the gateway and the
         test server; the gateway's peak RSS as in live. The last growth of the log directory (the `forwarded`
         checkpoint file excluded) is recorded too (log_end_s), so log end -> Rivven end is the forwarding tail.

Scale-out (--connections LIST, e.g. --connections 1,2): every gateway row is run once per value C, in the same
repetitions as the baseline (the order of the C values alternates from repetition to repetition), with
`shared_group: e2e` and `connections: C` in the gateway's config, so C MQTT connections share the subscription
(`$share/e2e/bench/#`); the baseline stays one mqsub on the plain filter. For drain, the gateway's C persistent
sessions (client ids ID-1 … ID-C, or ID when C = 1) are created offline on the shared filter before the backlog is
published; mosquitto deals the backlog to them round robin and queues each part, and the gateway drains all C at
once: rate = N / (first "MQTT connected" log ts -> last log write); every connection must report session_present.
Without --connections the gateway has one connection and no shared group (the rows before this option existed).
The summary then has one gateway row per C, each with its ratio to the same baseline runs, and "vs C=first", the
median of the per-repetition ratios of that row to the first C's row.

Drain QoS (--drain-qos 0|1, default 1): with 0 the session subscribes at QoS 0, mqpub publishes at QoS 0 and the
broker queues it for the offline session (queue_qos0_messages true); the drain is then bounded by the broker's
sending and the gateway's intake, not by acknowledgements (no PUBACK, so --verify-acks does not apply).

How the gateway's end time is taken: while it runs, the total size of the files in its output (the log dir, or the
--output file) is polled every --poll-ms with os.scandir/os.stat (no reading, so it costs the 2-core box almost
nothing); the time of the last growth is the end. With log.fsync: batch each batch is write + fdatasync, so the end
is the last batch's write, one fdatasync earlier than "durable". Once the size has been still for --settle seconds
(and the publisher has finished), the gateway is stopped with SIGTERM and the records are counted from what it
wrote: `rivven-mqtt log stat --dir D --json` ("records"), or the lines of the --output file. That count is the
loss check (expected - records; negative = duplicates). `log stat` is not polled during the run: it reads and
checks every record, which would compete with the gateway for the CPU.

(The rivven scenario is timed by the test server's report lines instead; see above.)

Gateway CPU (user+sys, /proc/PID/stat) is taken at the last log growth, minus the value at the publisher's start
(live) or when the "MQTT connected" line was first seen (drain; within a poll interval of CONNACK); peak RSS is
VmHWM from /proc/PID/status just before SIGTERM. other% (box process CPU not spent by this run's broker,
publisher and subscriber/gateway, in % of one core) shows how much of the box other tenants took meanwhile.
"""
import argparse
import atexit
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TOPIC_FILTER = "bench/#"
TOPIC = "bench/t"

# Broker settings as /work/shared/bench/bench.py writes them, except max_queued_messages 0 (= no limit in
# mosquitto 2.0; bench.py uses 10000000, the same for any N here). {inflight} defaults to bench.py's 1000.
BROKER_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
queue_qos0_messages true
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages {inflight}
max_inflight_bytes 0
memory_limit 0
message_size_limit 0
set_tcp_nodelay false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
connection_messages true
"""

# --- process bookkeeping ---------------------------------------------------------------------------------------

LIVE_CHILDREN = set()
TEMP_DIRS = set()
REGISTRY_LOCK = threading.Lock()


def cleanup():
    """Kills every child still running (by PID) and removes every temp dir."""
    with REGISTRY_LOCK:
        children = list(LIVE_CHILDREN)
        dirs = list(TEMP_DIRS)
    for child in children:
        child.kill(signal.SIGKILL)
    for child in children:
        child.wait(5)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


class Proc:
    """A child process reaped by its own thread (os.wait4), so exit time and rusage are exact."""

    def __init__(self, argv, stdout_path, stderr_path, env=None):
        self.argv = argv
        self.stdout_path, self.stderr_path = stdout_path, stderr_path
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        self.pid = self.popen.pid
        self.t_start = time.monotonic()
        self.t_exit = None
        self.status = None
        self.rusage_cpu = None
        self.done = threading.Event()
        with REGISTRY_LOCK:
            LIVE_CHILDREN.add(self)
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self):
        _, status, usage = os.wait4(self.pid, 0)
        self.t_exit = time.monotonic()
        self.status = os.waitstatus_to_exitcode(status)
        self.popen.returncode = self.status
        self.rusage_cpu = usage.ru_utime + usage.ru_stime
        with REGISTRY_LOCK:
            LIVE_CHILDREN.discard(self)
        self.done.set()

    def wait(self, timeout):
        return self.done.wait(timeout)

    def running(self):
        return not self.done.is_set()

    def kill(self, sig):
        if self.running():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace=10.0):
        """SIGTERM, then SIGKILL after `grace` seconds."""
        self.kill(signal.SIGTERM)
        if not self.wait(grace):
            self.kill(signal.SIGKILL)
            self.wait(5)

    def stdout(self):
        return read_text(self.stdout_path)

    def stderr(self):
        return read_text(self.stderr_path)

    def cpu_seconds(self):
        """utime + stime of the live process (None once it has exited)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            return None

    def peak_rss_kib(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return None


def read_text(path, limit=None):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return text[-limit:] if limit else text


def tail(text, limit=600):
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def make_temp_dir(parent):
    d = tempfile.mkdtemp(prefix="rivven-e2e-", dir=parent)
    with REGISTRY_LOCK:
        TEMP_DIRS.add(d)
    return d


def remove_temp_dir(d):
    shutil.rmtree(d, ignore_errors=True)
    with REGISTRY_LOCK:
        TEMP_DIRS.discard(d)


def wait_for(predicate, timeout, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def kv(text):
    return dict(re.findall(r"(\w+)=(\S+)", text))


def box_snapshot():
    """(monotonic time, process jiffies (user+nice+system), irq+softirq jiffies, all jiffies) over all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (time.monotonic(), user + nice + system, irq + softirq,
            user + nice + system + idle + iowait + irq + softirq + steal)


def box_load(before, after, own_cpu_s):
    """Whole-box CPU between two snapshots in % of ONE core (2 cores = 200%): `box_busy_pct` (process time plus
    interrupts; loopback TCP is largely softirq) and `other_pct` (process time not spent by the processes of this
    run: other tenants of the box)."""
    if before is None or after is None or own_cpu_s is None:
        return {}
    ncpu = os.cpu_count() or 1
    total = max(1, after[3] - before[3])
    window = max(1e-9, after[0] - before[0])
    process_pct = 100.0 * ncpu * (after[1] - before[1]) / total
    return {
        "box_busy_pct": process_pct + 100.0 * ncpu * (after[2] - before[2]) / total,
        "other_pct": max(0.0, process_pct - 100.0 * own_cpu_s / window),
    }


def delta(a, b):
    return (b - a) if a is not None and b is not None else None


def total(*values):
    return None if any(v is None for v in values) else sum(values)


# --- broker ------------------------------------------------------------------------------------------------------


class Broker:
    """A private mosquitto on a free 127.0.0.1 port, configured in `directory`."""

    def __init__(self, directory, inflight):
        self.directory = directory
        self.inflight = inflight
        self.proc = None
        self.port = None

    def start(self):
        for _ in range(10):
            port = free_port()
            conf = os.path.join(self.directory, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write(BROKER_CONF.format(port=port, inflight=self.inflight))
            self.proc = Proc(["mosquitto", "-c", conf], os.path.join(self.directory, "broker.out"),
                             os.path.join(self.directory, "broker.log"))
            if wait_for(lambda: self._accepts(port) or not self.proc.running(), 5):
                if self.proc.running():
                    self.port = port
                    return self
            self.stop()
        raise RuntimeError("mosquitto did not start: " + tail(self.log()))

    @staticmethod
    def _accepts(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    def log(self):
        return read_text(os.path.join(self.directory, "broker.log"))

    def cpu_seconds(self):
        return self.proc.cpu_seconds() if self.proc else None

    def stop(self):
        if self.proc:
            self.proc.stop(5)


def free_port():
    """A port that was free a moment ago (bound to 0, then released; the broker binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- tool command lines ------------------------------------------------------------------------------------------


def mqpub_argv(tools, port, n, payload, qos, window):
    return [tools.mqpub, "127.0.0.1", str(port), TOPIC, str(n), str(payload), str(qos), str(window),
            f"e2epub{random.randrange(1 << 30)}"]


def mqsub_argv(tools, port, n, qos, client_id, mode):
    return [tools.mqsub, "127.0.0.1", str(port), TOPIC_FILTER, str(n), str(qos), client_id, mode]


def tool_env(timeout):
    t = str(max(1, int(timeout)))
    return dict(os.environ, MQPUB_TIMEOUT_S=t, MQSUB_TIMEOUT_S=t)


SHARED_GROUP = "e2e"


class Variant:
    """How the gateway subscribes: `connections` MQTT connections, with `shared_group: e2e` when `shared`."""

    def __init__(self, connections=1, shared=False):
        self.connections, self.shared = connections, shared

    @property
    def label(self):
        return f"{self.connections}{' shared' if self.shared else ''}"

    def client_ids(self, cid):
        """The client ids the gateway connects with (MQTTConfiguration.clientID(forConnection:))."""
        return [cid] if self.connections == 1 else [f"{cid}-{k + 1}" for k in range(self.connections)]

    def filter(self):
        return f"$share/{SHARED_GROUP}/{TOPIC_FILTER}" if self.shared else TOPIC_FILTER


DEFAULT_VARIANT = Variant()


def gateway_config(port, qos, client_id, clean_session, log_dir, inflight, rivven_port=None, variant=DEFAULT_VARIANT):
    # The connector-file shape of Rivven's mqtt-source plus this gateway's top-level log/metrics sections, and a
    # `broker:` section (forwarding to the Rivven test server) when rivven_port is given.
    broker = f'broker:\n  bootstrap_servers: ["127.0.0.1:{rivven_port}"]\n' if rivven_port else ""
    scale = f"  shared_group: {SHARED_GROUP}\n  connections: {variant.connections}\n" if variant.shared else ""
    return broker + f"""\
type: mqtt-source
topic: bench-events
config:
  broker_url: mqtt://127.0.0.1:{port}
  topics: ["{TOPIC_FILTER}"]
  qos: {qos}
  client_id: {client_id}
  clean_session: {"true" if clean_session else "false"}
  max_inflight: {inflight}
  parse_json_payload: true
  include_metadata: true
{scale}log:
  dir: {log_dir}
  fsync: batch
metrics:
  listen: off
"""


# --- measurement helpers -----------------------------------------------------------------------------------------


def output_size(path):
    """Total bytes of a file, or of the regular files in a directory (0 when absent)."""
    try:
        if os.path.isdir(path):
            total = 0
            with os.scandir(path) as entries:
                for entry in entries:
                    # The forwarder's checkpoint (`forwarded`, `forwarded.tmp`) is rewritten after the last
                    # record; only the log's own files count.
                    if entry.is_file(follow_symlinks=False) and not entry.name.startswith("forwarded"):
                        total += entry.stat(follow_symlinks=False).st_size
            return total
        return os.stat(path).st_size
    except OSError:
        return 0


class GrowthWatch:
    """Polls the size of the gateway's output; remembers the first and the last growth (wall clock) and the
    gateway's CPU time at the last growth."""

    def __init__(self, path, gateway, broker, poll_s, armed=lambda: True):
        self.path, self.gateway, self.broker, self.poll_s = path, gateway, broker, poll_s
        # Until `armed()` holds, size changes only move the baseline (e.g. the log's own files at start-up).
        self.armed, self.is_armed = armed, False
        self.cpu_at_arm = self.box_at_arm = None
        self.size = output_size(path)
        self.first_growth = None
        self.last_growth = None
        self.last_change_mono = time.monotonic()
        self.cpu_at_last_growth = None
        self.broker_cpu_at_last_growth = None
        self.box_at_last_growth = None

    def poll(self):
        if not self.is_armed:
            self.is_armed = bool(self.armed())
            if not self.is_armed:
                self.size = output_size(self.path)
                return
            self.cpu_at_arm, self.box_at_arm = self.gateway.cpu_seconds(), box_snapshot()
        size = output_size(self.path)
        if size != self.size:
            now_wall, now_mono = time.time(), time.monotonic()
            if self.first_growth is None:
                self.first_growth = now_wall
            self.size = size
            self.last_growth = now_wall
            self.last_change_mono = now_mono
            self.cpu_at_last_growth = self.gateway.cpu_seconds()
            self.broker_cpu_at_last_growth = self.broker.cpu_seconds()
            self.box_at_last_growth = box_snapshot()

    def run_until_settled(self, settle_s, deadline_mono, ready=lambda: True, idle_limit_s=15.0):
        """Polls until the size has been still for `settle_s` and `ready()` holds, the gateway exits, nothing at
        all was written `idle_limit_s` after `ready()`, or the deadline passes. Returns None or an error string."""
        ready_since = None
        while True:
            self.poll()
            now = time.monotonic()
            if not self.gateway.running():
                return f"gateway exited early (rc {self.gateway.status})"
            if ready_since is None and ready():
                ready_since = now
            if self.last_growth is not None and ready_since is not None and now - self.last_change_mono >= settle_s:
                return None
            if self.last_growth is None and ready_since is not None and now - ready_since > idle_limit_s:
                return f"nothing written to {self.path} within {idle_limit_s:.0f} s"
            if now > deadline_mono:
                return "timeout"
            time.sleep(self.poll_s)


def count_records(tools, sink, target):
    """Records the gateway wrote: (count, error)."""
    if sink == "log":
        try:
            done = subprocess.run([tools.rivven, "log", "stat", "--dir", target, "--json"], capture_output=True,
                                  text=True, timeout=120, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None, "log stat timed out"
        if done.returncode != 0:
            return None, "log stat failed: " + tail(done.stderr + done.stdout)
        try:
            stat = json.loads(done.stdout)
        except ValueError:
            return None, "log stat printed no JSON: " + tail(done.stdout)
        return int(stat["records"]), None
    lines = 0
    try:
        with open(target, "rb") as f:
            while chunk := f.read(1 << 20):
                lines += chunk.count(b"\n")
    except OSError as e:
        return None, f"cannot read {target}: {e}"
    return lines, None


def rfc3339_to_epoch(text):
    """'2026-11-25T15:11:26.123456789Z' -> float seconds (nanosecond fractions kept to float precision)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        return None
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    offset = m.group(3)
    if offset == "Z":
        tz = datetime.timezone.utc
    else:
        sign = 1 if offset[0] == "+" else -1
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    seconds = base.replace(tzinfo=tz).timestamp()
    fraction = m.group(2) or "0"
    return seconds + int(fraction) / 10 ** len(fraction)


def gateway_log_lines(text):
    """The gateway's stderr (--log-format json) as dicts; other lines are skipped."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


def count_log_lines(text, message):
    return sum(1 for entry in gateway_log_lines(text) if entry.get("msg") == message)


def find_log_line(text, message):
    for entry in gateway_log_lines(text):
        if entry.get("msg") == message:
            return entry
    return None


# --- runs --------------------------------------------------------------------------------------------------------


def result_base(scenario, subject, qos, args, n):
    return {"scenario": scenario, "subject": subject, "qos": qos, "payload": args.payload, "n": n}


def run_live_baseline(tools, args, n, rep_dir):
    res = result_base("live", "mqsub", 0, args, n)
    env = tool_env(args.run_timeout)
    broker = Broker(rep_dir, args.inflight).start()
    sub = pub = None
    try:
        cid = f"e2esub{random.randrange(1 << 30)}"
        sub = Proc(mqsub_argv(tools, broker.port, n, 0, cid, "clean"), os.path.join(rep_dir, "sub.out"),
                   os.path.join(rep_dir, "sub.err"), env)
        if not wait_for(lambda: "READY" in sub.stderr() or not sub.running(), 10):
            res["error"] = "mqsub not subscribed: " + tail(sub.stderr())
            return res
        if not sub.running():
            res["error"] = f"mqsub exited rc {sub.status}: " + tail(sub.stderr())
            return res
        cpu_b0, box0 = broker.cpu_seconds(), box_snapshot()
        t0 = time.monotonic()
        pub = Proc(mqpub_argv(tools, broker.port, n, args.payload, 0, args.inflight),
                   os.path.join(rep_dir, "pub.out"), os.path.join(rep_dir, "pub.err"), env)
        finished = sub.wait(args.run_timeout + 5) and pub.wait(args.run_timeout + 5)
        cpu_b1, box1 = broker.cpu_seconds(), box_snapshot()
        sk = kv(sub.stdout())
        received = int(sk["n"]) if "n" in sk else None
        if received is None:
            m = re.search(r"count=(\d+) of", sub.stderr())
            received = int(m.group(1)) if m else None
        res["records"] = received
        # Loss only means something when the publisher got all N out.
        res["loss"] = n - received if received is not None and pub.status == 0 else None
        if not finished:
            res["error"] = "timeout"
            return res
        if sub.status != 0 or pub.status != 0:
            res["error"] = f"rc sub={sub.status} pub={pub.status}: {tail(sub.stderr())} {tail(pub.stderr())}"
            return res
        wall = sub.t_exit - t0
        res.update(
            wall_s=wall,
            msgs_per_s=n / wall,
            msgs_per_s_first_last=float(sk.get("msgs_per_s_first_last", "nan")),
            pub_msgs_per_s=float(kv(pub.stdout()).get("msgs_per_s", "nan")),
            cpu_s=sub.rusage_cpu,
            cpu_pct=100 * sub.rusage_cpu / wall,
            broker_cpu_s=delta(cpu_b0, cpu_b1),
            **box_load(box0, box1, total(delta(cpu_b0, cpu_b1), sub.rusage_cpu, pub.rusage_cpu)),
        )
        return res
    finally:
        for p in (sub, pub):
            if p:
                p.stop(2)
        broker.stop()


def run_drain_baseline(tools, args, n, rep_dir):
    qos = args.drain_qos
    res = result_base("drain", "mqsub", qos, args, n)
    env = tool_env(args.run_timeout)
    broker = Broker(rep_dir, args.inflight).start()
    persist = pub = sub = None
    try:
        cid = f"e2edrain{random.randrange(1 << 30)}"
        persist = Proc(mqsub_argv(tools, broker.port, n, qos, cid, "persist"), os.path.join(rep_dir, "persist.out"),
                       os.path.join(rep_dir, "persist.err"), env)
        if not persist.wait(15) or persist.status != 0:
            res["error"] = "persistent session not created: " + tail(persist.stderr())
            return res
        pub = Proc(mqpub_argv(tools, broker.port, n, args.payload, qos, args.inflight),
                   os.path.join(rep_dir, "pub.out"), os.path.join(rep_dir, "pub.err"), env)
        if not pub.wait(args.run_timeout + 5) or pub.status != 0:
            res["error"] = "publishing the backlog failed: " + tail(pub.stderr())
            return res
        time.sleep(0.1)
        cpu_b0, box0 = broker.cpu_seconds(), box_snapshot()
        sub = Proc(mqsub_argv(tools, broker.port, n, qos, cid, "drain"), os.path.join(rep_dir, "sub.out"),
                   os.path.join(rep_dir, "sub.err"), env)
        finished = sub.wait(args.run_timeout + 5)
        cpu_b1, box1 = broker.cpu_seconds(), box_snapshot()
        sk = kv(sub.stdout())
        received = int(sk["n"]) if "n" in sk else None
        if received is None:
            m = re.search(r"count=(\d+) of", sub.stderr())
            received = int(m.group(1)) if m else None
        res["records"] = received
        res["loss"] = n - received if received is not None else None
        if not finished or sub.status != 0:
            res["error"] = f"drain failed (rc {sub.status}): " + tail(sub.stderr())
            return res
        window = float(sk["conn_to_last_s"])
        res.update(
            wall_s=window,
            msgs_per_s=float(sk["msgs_per_s_conn_last"]),
            msgs_per_s_first_last=float(sk.get("msgs_per_s_first_last", "nan")),
            pub_msgs_per_s=float(kv(pub.stdout()).get("msgs_per_s", "nan")),
            cpu_s=sub.rusage_cpu,
            cpu_pct=100 * sub.rusage_cpu / window if window > 0 else None,
            broker_cpu_s=delta(cpu_b0, cpu_b1),
            **box_load(box0, box1, total(delta(cpu_b0, cpu_b1), sub.rusage_cpu)),
        )
        return res
    finally:
        for p in (persist, pub, sub):
            if p:
                p.stop(2)
        broker.stop()


def start_gateway(tools, args, rep_dir, broker, qos, cid, clean_session, rivven_port=None, variant=DEFAULT_VARIANT):
    """Writes the config and starts `rivven-mqtt run`; returns (proc, output path, config path). With rivven_port
    the gateway forwards there, and always writes the local log (the forwarder reads it)."""
    sink = "log" if rivven_port else args.sink
    log_dir = os.path.join(rep_dir, "log")
    target = log_dir if sink == "log" else os.path.join(rep_dir, "records.jsonl")
    config = os.path.join(rep_dir, "rivven-mqtt.yaml")
    with open(config, "w") as f:
        f.write(gateway_config(broker.port, qos, cid, clean_session, log_dir, args.inflight, rivven_port, variant))
    argv = [tools.rivven, "run", "--config", config, "--log-format", "json"]
    if sink == "output":
        argv += ["--output", target]
    gateway = Proc(argv, os.path.join(rep_dir, "gateway.out"), os.path.join(rep_dir, "gateway.err"))
    return gateway, target, config


def finish_gateway(tools, args, res, gateway, target, n):
    """Peak RSS, graceful stop, the 'stopped' line and the record count."""
    stop_gateway(args, res, gateway)
    records, error = count_records(tools, args.sink, target)
    res["records"] = records
    res["loss"] = n - records if records is not None else None
    if error:
        res.setdefault("error", error)
    elif records != n and "error" not in res:
        res["error"] = f"{records} records for {n} messages"


def stop_gateway(args, res, gateway):
    """Peak RSS, graceful stop, the 'local log open' and 'stopped' lines."""
    res["peak_rss_kib"] = gateway.peak_rss_kib()
    gateway.stop(args.stop_grace)
    res["gateway_rc"] = gateway.status
    res["gateway_cpu_total_s"] = gateway.rusage_cpu
    opened = find_log_line(gateway.stderr(), "local log open")
    if opened:
        res["log_writer"], res["log_fsync"] = opened.get("log.writer"), opened.get("log.fsync")
    stopped = find_log_line(gateway.stderr(), "stopped")
    if stopped:
        res["stopped_line"] = {k: v for k, v in stopped.items() if k not in ("ts", "level", "logger", "msg")}


def run_live_gateway(tools, args, n, rep_dir, variant=DEFAULT_VARIANT):
    res = result_base("live", "rivven-mqtt", 0, args, n)
    res["sink"], res["connections"] = args.sink, variant.label
    env = tool_env(args.run_timeout)
    broker = Broker(rep_dir, args.inflight).start()
    gateway = pub = None
    try:
        cid = f"e2egw{random.randrange(1 << 30)}"
        gateway, target, _ = start_gateway(tools, args, rep_dir, broker, 0, cid, True, variant=variant)
        if not wait_for(lambda: count_log_lines(gateway.stderr(), "MQTT subscribed") >= variant.connections
                        or not gateway.running(), 15):
            res["error"] = "gateway not subscribed: " + tail(gateway.stderr())
            return res
        if not gateway.running():
            res["error"] = f"gateway exited rc {gateway.status}: " + tail(gateway.stderr())
            return res
        time.sleep(0.05)  # SUBACK has been logged; let the broker finish inserting the subscription
        watch = GrowthWatch(target, gateway, broker, args.poll_ms / 1000)
        cpu_g0, cpu_b0, box0 = gateway.cpu_seconds(), broker.cpu_seconds(), box_snapshot()
        t0_wall = time.time()
        pub = Proc(mqpub_argv(tools, broker.port, n, args.payload, 0, args.inflight),
                   os.path.join(rep_dir, "pub.out"), os.path.join(rep_dir, "pub.err"), env)
        problem = watch.run_until_settled(args.settle, time.monotonic() + args.run_timeout,
                                          ready=lambda: not pub.running())
        if problem:
            res["error"] = problem + ": " + tail(gateway.stderr())
        if pub.wait(5) and pub.status != 0:
            res.setdefault("error", f"mqpub rc {pub.status}: " + tail(pub.stderr()))
        if watch.last_growth is not None:
            wall = watch.last_growth - t0_wall
            res.update(
                wall_s=wall,
                msgs_per_s=n / wall if wall > 0 else None,
                first_write_after_s=watch.first_growth - t0_wall,
                output_bytes=watch.size,
                pub_msgs_per_s=float(kv(pub.stdout()).get("msgs_per_s", "nan")),
                broker_cpu_s=delta(cpu_b0, watch.broker_cpu_at_last_growth),
            )
            res["cpu_s"] = delta(cpu_g0, watch.cpu_at_last_growth)
            if res["cpu_s"] is not None and wall > 0:
                res["cpu_pct"] = 100 * res["cpu_s"] / wall
            pub.wait(5)
            res.update(box_load(box0, watch.box_at_last_growth,
                                total(res["cpu_s"], res["broker_cpu_s"], pub.rusage_cpu)))
        finish_gateway(tools, args, res, gateway, target, n)
        if pub.status != 0:
            res["loss"] = None  # the publisher did not get all N out: nothing to compare with
        return res
    finally:
        for p in (pub, gateway):
            if p:
                p.stop(2)
        broker.stop()


def run_drain_gateway(tools, args, n, rep_dir, variant=DEFAULT_VARIANT):
    qos = args.drain_qos
    res = result_base("drain", "rivven-mqtt", qos, args, n)
    res["sink"], res["connections"] = args.sink, variant.label
    env = tool_env(args.run_timeout)
    broker = Broker(rep_dir, args.inflight).start()
    pub = gateway = None
    checks = []
    try:
        cid = f"e2egwdrain{random.randrange(1 << 30)}"
        # The gateway's sessions (one per connection), created offline with the client ids, filter and QoS it will
        # use; mqsub's TOPIC argument is what it subscribes to.
        for k, session in enumerate(variant.client_ids(cid)):
            persist = Proc([tools.mqsub, "127.0.0.1", str(broker.port), variant.filter(), str(n), str(qos), session,
                            "persist"], os.path.join(rep_dir, f"persist{k}.out"), os.path.join(rep_dir, f"persist{k}.err"),
                           env)
            if not persist.wait(15) or persist.status != 0:
                res["error"] = f"persistent session {session} not created: " + tail(persist.stderr())
                persist.stop(2)
                return res
        pub = Proc(mqpub_argv(tools, broker.port, n, args.payload, qos, args.inflight),
                   os.path.join(rep_dir, "pub.out"), os.path.join(rep_dir, "pub.err"), env)
        if not pub.wait(args.run_timeout + 5) or pub.status != 0:
            res["error"] = "publishing the backlog failed: " + tail(pub.stderr())
            return res
        res["pub_msgs_per_s"] = float(kv(pub.stdout()).get("msgs_per_s", "nan"))
        time.sleep(0.1)
        cpu_b0, box0 = broker.cpu_seconds(), box_snapshot()
        gateway, target, _ = start_gateway(tools, args, rep_dir, broker, qos, cid, False, variant=variant)
        watch = GrowthWatch(target, gateway, broker, args.poll_ms / 1000,
                            armed=lambda: find_log_line(gateway.stderr(), "MQTT connected"))
        problem = watch.run_until_settled(args.settle, time.monotonic() + args.run_timeout)
        if problem:
            res["error"] = problem + ": " + tail(gateway.stderr())
        connected = find_log_line(gateway.stderr(), "MQTT connected")
        t_conn = rfc3339_to_epoch(connected["ts"]) if connected and "ts" in connected else None
        every = [e for e in gateway_log_lines(gateway.stderr()) if e.get("msg") == "MQTT connected"]
        if len(every) < variant.connections:
            res.setdefault("error", f"{len(every)} of {variant.connections} connections connected")
        if any(e.get("mqtt.session_present") not in ("true", True) for e in every):
            res.setdefault("error", "the broker had no session for the gateway (session_present false)")
        if t_conn is None:
            res.setdefault("error", "no 'MQTT connected' line with a timestamp: " + tail(gateway.stderr()))
        elif watch.last_growth is not None:
            wall = watch.last_growth - t_conn
            res.update(
                wall_s=wall,
                msgs_per_s=n / wall if wall > 0 else None,
                first_write_after_s=watch.first_growth - t_conn,
                output_bytes=watch.size,
                broker_cpu_s=delta(cpu_b0, watch.broker_cpu_at_last_growth),
            )
            # From the moment the "MQTT connected" line was seen (within a poll interval of CONNACK).
            res["cpu_s"] = delta(watch.cpu_at_arm, watch.cpu_at_last_growth)
            if res["cpu_s"] is not None and wall > 0:
                res["cpu_pct"] = 100 * res["cpu_s"] / wall
            res.update(box_load(watch.box_at_arm, watch.box_at_last_growth, total(res["cpu_s"], res["broker_cpu_s"])))
        finish_gateway(tools, args, res, gateway, target, n)
        if args.verify_acks and qos > 0 and "error" not in res:
            # Everything PUBACKed: no session may hold anything to redeliver. mqsub drain waits for 1 message.
            for k, session in enumerate(variant.client_ids(cid)):
                checks.append(Proc(mqsub_argv(tools, broker.port, 1, qos, session, "drain"),
                                   os.path.join(rep_dir, f"check{k}.out"), os.path.join(rep_dir, f"check{k}.err"),
                                   tool_env(args.verify_acks)))
            for check in checks:
                check.wait(args.verify_acks + 10)
            redelivered = any(c.status == 0 and kv(c.stdout()).get("n") == "1" for c in checks)
            res["unacked_redelivered"] = redelivered
            if redelivered:
                res["error"] = "the broker redelivered a message after the gateway stopped (not PUBACKed)"
        return res
    finally:
        for p in [pub, gateway] + checks:
            if p:
                p.stop(2)
        broker.stop()


class TestServer:
    """`rivven-mqtt test-server --port 0 --no-retain --report-ms R` (the in-memory Rivven stand-in) and its stdout:
    report lines {"t", "records", "duplicates", "requests"} and, after SIGTERM, one line with "final": true."""

    LISTENING = re.compile(r"rivven test server listening on 127\.0\.0\.1:(\d+)")

    def __init__(self, tools, directory, report_ms):
        self.out_path = os.path.join(directory, "test-server.out")
        self.proc = Proc([tools.rivven, "test-server", "--port", "0", "--no-retain", "--report-ms", str(report_ms)],
                         self.out_path, os.path.join(directory, "test-server.err"))
        self.port = None
        self.reports = []
        self.final = None
        self._offset = 0
        self._partial = b""

    def wait_listening(self, timeout):
        wait_for(lambda: self.LISTENING.search(self.proc.stderr()) or not self.proc.running(), timeout)
        m = self.LISTENING.search(self.proc.stderr())
        self.port = int(m.group(1)) if m else None
        return self.port is not None and self.proc.running()

    def read_new(self):
        """The report lines written since the last call (reads only the new bytes of the file)."""
        try:
            with open(self.out_path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        new = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("final"):
                self.final = entry
            else:
                new.append(entry)
        self.reports.extend(new)
        return new

    def stop(self, grace=10.0):
        """SIGTERM (the server then prints its final line and exits 0); returns the final line or None."""
        self.proc.stop(grace)
        self.read_new()
        return self.final


def run_rivven_gateway(tools, args, n, rep_dir, variant=DEFAULT_VARIANT):
    res = result_base("rivven", "rivven-mqtt", 0, args, n)
    res["sink"], res["connections"] = "log+rivven", variant.label
    env = tool_env(args.run_timeout)
    broker = Broker(rep_dir, args.inflight).start()
    server = gateway = pub = None
    try:
        server = TestServer(tools, rep_dir, args.report_ms)
        if not server.wait_listening(10):
            res["error"] = f"test-server did not start (rc {server.proc.status}): " + tail(server.proc.stderr())
            return res
        cid = f"e2egwrv{random.randrange(1 << 30)}"
        gateway, target, _ = start_gateway(tools, args, rep_dir, broker, 0, cid, True, rivven_port=server.port,
                                           variant=variant)

        def ready():
            text = gateway.stderr()
            return (count_log_lines(text, "MQTT subscribed") >= variant.connections
                    and find_log_line(text, "connected to Rivven"))

        if not wait_for(lambda: ready() or not gateway.running(), 15) or not gateway.running():
            res["error"] = (f"gateway not subscribed and connected to Rivven (rc {gateway.status}): "
                            + tail(gateway.stderr()))
            return res
        time.sleep(0.05)  # as live: let the broker finish inserting the subscription
        watch = GrowthWatch(target, gateway, broker, args.poll_ms / 1000)
        server.read_new()
        cpu_g0, cpu_s0, cpu_b0, box0 = gateway.cpu_seconds(), server.proc.cpu_seconds(), broker.cpu_seconds(), \
            box_snapshot()
        t0_wall, t0 = time.time(), time.monotonic()
        pub = Proc(mqpub_argv(tools, broker.port, n, args.payload, 0, args.inflight),
                   os.path.join(rep_dir, "pub.out"), os.path.join(rep_dir, "pub.err"), env)
        reached = first = None  # the first report line with records >= n, and with records > 0
        at_reached = None  # (gateway CPU, server CPU, broker CPU, box) when the script read that line
        records, last_change = None, t0
        while True:
            watch.poll()
            for report in server.read_new():
                if report["records"] != records:
                    records, last_change = report["records"], time.monotonic()
                if first is None and report["records"] > 0:
                    first = report
                if reached is None and report["records"] >= n:
                    reached = report
                    at_reached = (gateway.cpu_seconds(), server.proc.cpu_seconds(), broker.cpu_seconds(),
                                  box_snapshot())
            now = time.monotonic()
            if not gateway.running():
                res["error"] = f"gateway exited early (rc {gateway.status}): " + tail(gateway.stderr())
                break
            if not server.proc.running():
                res["error"] = f"test-server exited early (rc {server.proc.status}): " + tail(server.proc.stderr())
                break
            if not pub.running():
                still = now - last_change
                if reached is not None and still >= args.settle:
                    break
                if reached is None and still >= 15:
                    res["error"] = f"Rivven holds {records} records of {n}, unchanged for 15 s"
                    break
            if now > t0 + args.run_timeout:
                res["error"] = f"timeout (Rivven holds {records} records of {n})"
                break
            time.sleep(args.poll_ms / 1000)
        if pub.wait(5) and pub.status != 0:
            res.setdefault("error", f"mqpub rc {pub.status}: " + tail(pub.stderr()))
        res["pub_msgs_per_s"] = float(kv(pub.stdout()).get("msgs_per_s", "nan"))
        if first is not None:
            res["first_forward_after_s"] = first["t"] - t0
        if watch.last_growth is not None:
            res["log_end_s"] = watch.last_growth - t0_wall
        if reached is not None:
            wall = reached["t"] - t0
            res.update(wall_s=wall, msgs_per_s=n / wall if wall > 0 else None, report_ms=args.report_ms,
                       output_bytes=watch.size)
            res["cpu_s"] = delta(cpu_g0, at_reached[0])
            res["server_cpu_s"] = delta(cpu_s0, at_reached[1])
            res["broker_cpu_s"] = delta(cpu_b0, at_reached[2])
            window = at_reached[3][0] - t0  # CPU is read when the script saw the line, up to a poll after t
            for key in ("cpu", "server_cpu"):
                if res[f"{key}_s"] is not None and window > 0:
                    res[f"{key}_pct"] = 100 * res[f"{key}_s"] / window
            res.update(box_load(box0, at_reached[3],
                                total(res["cpu_s"], res["server_cpu_s"], res["broker_cpu_s"], pub.rusage_cpu)))
        stop_gateway(args, res, gateway)
        log_records, error = count_records(tools, "log", target)
        res["log_records"] = log_records
        if error:
            res.setdefault("error", error)
        elif log_records != n:
            res.setdefault("error", f"the local log holds {log_records} records for {n} messages")
        final = server.stop()
        res["server_rc"] = server.proc.status
        res["server_cpu_total_s"] = server.proc.rusage_cpu
        if final is None:
            res.setdefault("error", f"no final line from test-server (rc {server.proc.status}): "
                           + tail(server.proc.stderr()))
        else:
            res["records"], res["duplicates"] = final["records"], final["duplicates"]
            res["server_requests_by_kind"] = final.get("requests_by_kind")
            res["loss"] = n - final["records"]
            if final["records"] != n:
                res.setdefault("error", f"Rivven stored {final['records']} records for {n} messages")
            if server.proc.status != 0:
                res.setdefault("error", f"test-server rc {server.proc.status}: " + tail(server.proc.stderr()))
        if pub.status != 0:
            res["loss"] = None  # the publisher did not get all N out: nothing to compare with
        return res
    finally:
        for p in (pub, gateway):
            if p:
                p.stop(2)
        if server:
            server.proc.stop(2)
        broker.stop()


RUNNERS = {
    ("live", "mqsub"): run_live_baseline,
    ("live", "rivven-mqtt"): run_live_gateway,
    ("drain", "mqsub"): run_drain_baseline,
    ("drain", "rivven-mqtt"): run_drain_gateway,
    # rivven's baseline is the live mqsub run (see BASELINE_OF)
    ("rivven", "mqsub"): run_live_baseline,
    ("rivven", "rivven-mqtt"): run_rivven_gateway,
}

# The scenario whose baseline runs a scenario's row compares with.
BASELINE_OF = {"live": "live", "drain": "drain", "rivven": "live"}


# --- summary -----------------------------------------------------------------------------------------------------


def median_of(results, key):
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def counted(r, max_other):
    """A successful run whose box was quiet enough (other% at most `max_other`, when given)."""
    if "error" in r:
        return False
    return max_other is None or (r.get("other_pct") is not None and r["other_pct"] <= max_other)


def summarize(results, scenarios, sizes, max_other=None, variants=(DEFAULT_VARIANT,)):
    rows = []
    for scenario in scenarios:
        for variant in variants:
            rows.append(summarize_row(results, scenario, sizes, max_other, variant))
        # Each further variant against the first, repetition by repetition (same box load).
        first = rows[-len(variants)]
        for row in rows[-len(variants):]:
            pairs = [g / first["gateway_by_rep"][rep] for rep, g in row["gateway_by_rep"].items()
                     if first["gateway_by_rep"].get(rep)]
            row["vs_first_paired_median"] = statistics.median(pairs) if pairs and row is not first else None
            row["vs_first_paired"] = pairs if row is not first else []
    return rows


def summarize_row(results, scenario, sizes, max_other, variant):
    row = {"scenario": scenario, "n": sizes[scenario], "payload": None, "qos": None, "connections": variant.label}

    def of_subject(r, subject):
        return r["subject"] == subject and (subject == "mqsub" or r.get("connections") == variant.label)

    for subject, prefix in (("mqsub", "baseline"), ("rivven-mqtt", "gateway")):
        source = BASELINE_OF[scenario] if subject == "mqsub" else scenario
        runs = [r for r in results if r["scenario"] == source and of_subject(r, subject)]
        good = [r for r in runs if counted(r, max_other)]
        if runs and (row["payload"] is None or subject == "rivven-mqtt"):
            row["payload"], row["qos"] = runs[0]["payload"], runs[0]["qos"]
        row[f"{prefix}_runs"] = f"{len(good)}/{len(runs)}"
        row[f"{prefix}_failed"] = sum(1 for r in runs if "error" in r)
        row[f"{prefix}_msgs_per_s"] = median_of(good, "msgs_per_s")
        rates = sorted(r["msgs_per_s"] for r in good if r.get("msgs_per_s"))
        row[f"{prefix}_range"] = [rates[0], rates[-1]] if rates else None
        # loss over every run that produced a count, so a failed run still shows what it lost
        losses = [r["loss"] for r in runs if r.get("loss") is not None]
        row[f"{prefix}_loss_max"] = max(losses) if losses else None
        row[f"{prefix}_errors"] = [r["error"] for r in runs if "error" in r]
        row[f"{prefix}_other_pct"] = median_of(good, "other_pct")
        row[f"{prefix}_box_busy_pct"] = median_of(good, "box_busy_pct")
        if prefix == "gateway":
            row["gateway_cpu_s"] = median_of(good, "cpu_s")
            row["gateway_cpu_pct"] = median_of(good, "cpu_pct")
            row["gateway_peak_rss_kib"] = max((r["peak_rss_kib"] for r in runs if r.get("peak_rss_kib")),
                                              default=None)
            row["gateway_sink"] = runs[0].get("sink") if runs else None
            # rivven: resends Rivven recognised (not stored), and the test server's CPU over the same window
            dups = [r["duplicates"] for r in runs if r.get("duplicates") is not None]
            row["gateway_duplicates_max"] = max(dups) if dups else None
            row["server_cpu_s"] = median_of(good, "server_cpu_s")
            row["server_cpu_pct"] = median_of(good, "server_cpu_pct")
            row["gateway_log_end_s"] = median_of(good, "log_end_s")
            row["gateway_wall_s"] = median_of(good, "wall_s")
            writers = sorted({r["log_writer"] for r in runs if r.get("log_writer")})
            if writers:
                row["gateway_sink"] += f" ({'/'.join(writers)})"
    b, g = row["baseline_msgs_per_s"], row["gateway_msgs_per_s"]
    row["ratio"] = g / b if b and g else None
    # Each gateway run against the baseline run just before it (same repetition): robust to a box whose load
    # changes between repetitions.
    by_rep = {}
    for r in results:
        source = BASELINE_OF[scenario] if r["subject"] == "mqsub" else scenario
        if r["scenario"] == source and of_subject(r, r["subject"]) and counted(r, max_other) and r.get("msgs_per_s"):
            by_rep.setdefault(r["rep"], {})[r["subject"]] = r["msgs_per_s"]
    pairs = [v["rivven-mqtt"] / v["mqsub"] for v in by_rep.values() if "rivven-mqtt" in v and "mqsub" in v]
    row["ratio_paired_median"] = statistics.median(pairs) if pairs else None
    row["ratios_paired"] = pairs
    row["gateway_by_rep"] = {rep: v["rivven-mqtt"] for rep, v in by_rep.items() if "rivven-mqtt" in v}
    return row


def fmt_rate(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_pct(x):
    return "-" if x is None else f"{x:.0f}"


def fmt_loss(row, prefix):
    v = row[f"{prefix}_loss_max"]
    return "-" if v is None else str(v)


def table(rows):
    head = ("| scenario | QoS | payload B | N | conn | baseline msgs/s (mqsub) | rivven-mqtt msgs/s | ratio (paired) | "
            "vs first conn (paired) | "
            "loss base/gw | gw CPU user+sys s (% core) | gw peak RSS MiB | sink | other% base/gw | runs counted base; gw | "
            "Rivven dup | test-server CPU s (% core) |")
    lines = [head, "|" + "---|" * 17]
    for r in rows:
        cpu = "-" if r["gateway_cpu_s"] is None else f"{r['gateway_cpu_s']:.2f} ({r['gateway_cpu_pct']:.0f}%)"
        server_cpu = "-" if r["server_cpu_s"] is None else f"{r['server_cpu_s']:.2f} ({r['server_cpu_pct']:.0f}%)"
        dups = "-" if r["gateway_duplicates_max"] is None else str(r["gateway_duplicates_max"])
        rss = "-" if r["gateway_peak_rss_kib"] is None else f"{r['gateway_peak_rss_kib'] / 1024:.1f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        if r["ratio_paired_median"] is not None:
            ratio += f" ({r['ratio_paired_median']:.2f})"
        vs_first = "-" if r.get("vs_first_paired_median") is None else f"{r['vs_first_paired_median']:.2f}"
        lines.append(
            f"| {r['scenario']} | {r['qos']} | {r['payload']} | {r['n']} | {r['connections']} | "
            f"{fmt_rate(r['baseline_msgs_per_s'])} | "
            f"{fmt_rate(r['gateway_msgs_per_s'])} | {ratio} | {vs_first} | "
            f"{fmt_loss(r, 'baseline')}/{fmt_loss(r, 'gateway')} | "
            f"{cpu} | {rss} | {r['gateway_sink'] or '-'} | {fmt_pct(r['baseline_other_pct'])}/{fmt_pct(r['gateway_other_pct'])} | "
            f"{r['baseline_runs']}; {r['gateway_runs']} | {dups} | {server_cpu} |")
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------------------------


class Tools:
    def __init__(self, args):
        self.mqpub, self.mqsub, self.rivven = args.mqpub, args.mqsub, args.rivven


def detect_sink(rivven):
    """'log' when the binary has `log stat` (its `run` then writes the local log by default), else 'output'."""
    try:
        done = subprocess.run([rivven, "log", "stat", "--help"], capture_output=True, timeout=20,
                              stdin=subprocess.DEVNULL)
        # Without a `log` command, ArgumentParser hands "log stat --help" to the default `run` command, which prints
        # the root help and exits 0; so look for the subcommand's own usage line.
        return "log" if done.returncode == 0 and b"log stat" in done.stdout else "output"
    except (OSError, subprocess.TimeoutExpired):
        return "output"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mqpub", required=True)
    ap.add_argument("--mqsub", required=True)
    ap.add_argument("--rivven", required=True, help="the rivven-mqtt binary")
    ap.add_argument("--messages", type=int, default=0,
                    help="N for every scenario (default: 200000 live and rivven, 50000 drain)")
    ap.add_argument("--drain-messages", type=int, default=0, help="N for the drain scenario only")
    ap.add_argument("--payload", type=int, default=256, help="payload bytes (default 256)")
    ap.add_argument("--runs", type=int, default=3,
                    help="runs per scenario and subject, interleaved; the median is reported (default 3)")
    ap.add_argument("--scenarios", default="live,drain", help="live, drain, rivven, comma-separated "
                    "(default live,drain)")
    ap.add_argument("--subjects", default="mqsub,rivven-mqtt", help="mqsub (baseline), rivven-mqtt, or both")
    ap.add_argument("--sink", choices=["auto", "log", "output"], default="auto",
                    help="log: rivven-mqtt run writes the local log (log.fsync: batch); output: run --output FILE "
                         "(JSON lines, no fsync); auto: log when the binary has `log stat`")
    ap.add_argument("--connections", default="",
                    help="comma-separated C values, e.g. 1,2: each gateway row is run with `shared_group: e2e` and "
                         "`connections: C` (one row per C, against the same baseline runs); default: one connection, "
                         "no shared group")
    ap.add_argument("--drain-qos", type=int, choices=[0, 1], default=1,
                    help="QoS of the drain scenario's session, backlog and gateway (default 1)")
    ap.add_argument("--inflight", type=int, default=1000,
                    help="broker max_inflight_messages, mqpub window and the gateway's max_inflight (default 1000)")
    ap.add_argument("--run-timeout", type=float, default=90, help="seconds per run (default 90)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds the gateway's output must stay still before it counts as finished (default 1)")
    ap.add_argument("--poll-ms", type=float, default=2.0, help="output size poll interval (default 2 ms)")
    ap.add_argument("--report-ms", type=int, default=20,
                    help="rivven: the test server's report interval, the resolution of the end time (default 20)")
    ap.add_argument("--stop-grace", type=float, default=20, help="seconds between SIGTERM and SIGKILL")
    ap.add_argument("--verify-acks", type=float, default=1.0,
                    help="drain: seconds to wait for a redelivery after the gateway stopped (0 = skip)")
    ap.add_argument("--max-other", type=float, default=None,
                    help="count only runs during which other tenants used at most this much CPU (%% of one core) "
                         "in the medians; every run stays in --json")
    ap.add_argument("--tmp", default=None, help="parent of the temp dirs (default: the system temp dir)")
    ap.add_argument("--json", default="", help="write the table's data and every run here")
    args = ap.parse_args()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(cleanup)

    if args.sink == "auto":
        args.sink = detect_sink(args.rivven)
    tools = Tools(args)
    scenarios = [s for s in args.scenarios.split(",") if s]
    subjects = [s for s in args.subjects.split(",") if s]
    for s in scenarios:
        if s not in ("live", "drain", "rivven"):
            ap.error(f"unknown scenario {s}")
    if args.report_ms <= 0:
        ap.error("--report-ms must be positive")
    try:
        counts = [int(c) for c in args.connections.split(",") if c.strip()]
    except ValueError:
        ap.error("--connections takes comma-separated numbers, e.g. 1,2")
    if any(c < 1 or c > 64 for c in counts) or len(set(counts)) != len(counts):
        ap.error("--connections: distinct values in 1..64")
    variants = [Variant(c, shared=True) for c in counts] or [DEFAULT_VARIANT]
    sizes = {
        "live": args.messages or 200_000,
        "rivven": args.messages or 200_000,
        "drain": args.drain_messages or args.messages or 50_000,
    }
    t_start = time.monotonic()
    load_at_start = open("/proc/loadavg").read().strip()
    results = []
    for rep in range(args.runs):
        for scenario in scenarios:
            # The baseline first, then every gateway variant, their order alternating between repetitions.
            order = variants if rep % 2 == 0 else list(reversed(variants))
            jobs = [(subject, variant) for subject in subjects
                    for variant in ([None] if subject == "mqsub" else order)]
            for subject, variant in jobs:
                if scenario == "rivven" and subject == "mqsub" and "live" in scenarios:
                    continue  # rivven's baseline is this repetition's live mqsub run
                rep_dir = make_temp_dir(args.tmp)
                t = time.monotonic()
                try:
                    runner = RUNNERS[(scenario, subject)]
                    if variant is None:
                        r = runner(tools, args, sizes[scenario], rep_dir)
                    else:
                        r = runner(tools, args, sizes[scenario], rep_dir, variant=variant)
                except Exception as e:  # noqa: BLE001 - record the failure and go on
                    r = result_base(BASELINE_OF[scenario] if subject == "mqsub" else scenario, subject,
                                    args.drain_qos if scenario == "drain" else 0, args, sizes[scenario])
                    if variant is not None:
                        r["connections"] = variant.label
                    r["error"] = repr(e)
                finally:
                    remove_temp_dir(rep_dir)
                r["rep"] = rep
                results.append(r)
                status = r.get("error") or f"{r['msgs_per_s']:,.0f} msgs/s"
                extra = f", sink {r['sink']}" if "sink" in r else ""
                if r.get("duplicates") is not None:
                    extra += f", Rivven duplicates {r['duplicates']}"
                label = subject if variant is None else f"{subject} c={variant.label}"
                print(f"[{time.monotonic() - t_start:6.1f}s] run {rep + 1}/{args.runs} {r['scenario']:6} {label:20} "
                      f"n={sizes[scenario]}: {status} (loss {r.get('loss')}{extra}; {time.monotonic() - t:.1f}s)",
                      file=sys.stderr, flush=True)
    rows = summarize(results, scenarios, sizes, args.max_other, variants)
    if args.max_other is not None:
        print(f"(medians over runs with other% <= {args.max_other:g}; 'runs' = counted/all)")
    print(table(rows))
    for row in rows:
        for prefix in ("baseline", "gateway"):
            for e in row[f"{prefix}_errors"]:
                print(f"  {row['scenario']} {prefix}: {tail(e, 300)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "command": os.environ.get("E2E_COMMAND") or " ".join(sys.argv),
                "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "load_average_at_start": load_at_start,
                "nproc": os.cpu_count(),
                "method": __doc__,
                "broker_conf": BROKER_CONF.format(port="<free port>", inflight=args.inflight),
                "options": {k: v for k, v in vars(args).items() if k not in ("json",)},
                "summary": rows,
                "runs": results,
                "elapsed_s": time.monotonic() - t_start,
            }, f, indent=1)
    failed = any(r.get("error") for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
