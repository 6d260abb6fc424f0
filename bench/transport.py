#!/usr/bin/env python3
"""One round trip that wakes as few CPUs as possible (issue #20, part 3).

pam_vigil makes one call to vigild per PAM step, on a fresh socket. This
measures the floor of such a call over each local transport it could use,
against a server that answers at once (bench/transport.c), interleaved
round after round:

  stream        SOCK_STREAM as today: the client closes, the server reads
                the end and closes
  stream-first  SOCK_STREAM, the server closing first, right after its reply
  seqpacket     SOCK_SEQPACKET, one message each way, the server closing first
  dgram         SOCK_DGRAM with SO_PASSCRED: no connect and no close for the
                server; the kernel attaches the sender's credentials

Per call: the client's wall time (median, p99) and CPU, and the wakes: the
voluntary context switches of the client (getrusage) and of the server
(/proc/PID/status), each a sleep that the other side ended, and the
server's CPU (/proc/PID/stat, 10 ms ticks over the round).

  bench/transport.py              full run (7 rounds of 5,000 calls)
  bench/transport.py --quick      a second: proves it works
  bench/transport.py --record     also writes the table into bench/RESULTS.md
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import cpu_of  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("VIGIL_BUILD_DIR", os.path.join(ROOT, "build"))
TRANSPORT = os.path.join(BUILD, "bench", "transport")
KINDS = ["stream", "stream-first", "seqpacket", "dgram"]


def server_counters(pid):
    with open("/proc/%d/status" % pid) as f:
        sw = [int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches")][0]
    return sw, cpu_of(pid, children=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    rounds, count = (1, 200) if a.quick else (a.rounds, a.count)
    if rounds < 1 or count < 1:
        print("transport: --rounds and --count must be at least 1", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="vigil-transport-")
    servers = {}
    per = {k: [] for k in KINDS}
    try:
        for k in KINDS:
            path = os.path.join(work, k + ".sock")
            servers[k] = (subprocess.Popen([TRANSPORT, "serve", k, path]), path)
            end = time.monotonic() + 10
            while not os.path.exists(path):
                if time.monotonic() > end or servers[k][0].poll() is not None:
                    raise RuntimeError("transport serve %s did not start" % k)
                time.sleep(0.01)
        for r in range(rounds):
            order = KINDS[r % 4:] + KINDS[:r % 4]
            for k in order:
                proc, path = servers[k]
                sw0, cpu0 = server_counters(proc.pid)
                p = subprocess.run([TRANSPORT, "call", k, path, str(count)], capture_output=True, text=True,
                                   timeout=600)
                sw1, cpu1 = server_counters(proc.pid)
                if p.returncode != 0:
                    raise RuntimeError("transport call %s: %s%s" % (k, p.stdout, p.stderr))
                res = json.loads(p.stdout)
                res["server_waits"] = (sw1 - sw0) / count
                res["server_cpu_us"] = (cpu1 - cpu0) * 1e6 / count
                per[k].append(res)
            print("round %d/%d done" % (r + 1, rounds), file=sys.stderr)
    finally:
        for proc, _ in servers.values():
            proc.kill()
            proc.wait()
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        os.rmdir(work)
    keys = ("median_us", "p99_us", "client_cpu_us", "client_waits", "server_cpu_us", "server_waits")
    out = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": "bench/transport.py" + (" --quick" if a.quick else " --rounds %d --count %d" % (rounds, count)),
           "rounds": rounds, "count": count,
           "kinds": {k: {key: statistics.median([x[key] for x in per[k]]) for key in keys} for k in KINDS}}
    lines = table(out)
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print("\n".join(lines))
    if a.record:
        record(out, lines)
    return 0


def table(out):
    lines = ["| transport | call p50 µs | call p99 µs | client CPU µs | client waits | server CPU µs "
             "| server waits |", "|---|---|---|---|---|---|---|"]
    for k, v in out["kinds"].items():
        lines.append("| %s | %.1f | %.1f | %.1f | %.2f | %.1f | %.2f |" % (
            k, v["median_us"], v["p99_us"], v["client_cpu_us"], v["client_waits"], v["server_cpu_us"],
            v["server_waits"]))
    return lines


MARK_BEGIN = "<!-- transport.py: begin -->"
MARK_END = "<!-- transport.py: end -->"


def record(out, lines):
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    with open(path) as f:
        text = f.read()
    block = "\n".join([MARK_BEGIN, "### One round trip, each transport (issue #20, part 3)", "",
                       "- date: %s; command: `%s`" % (out["date"], out["command"]),
                       "- a fresh socket per call against a server that answers at once (`bench/transport`), "
                       "%d rounds of %d calls per transport, interleaved; medians over the rounds. Waits: "
                       "voluntary context switches per call (each a sleep the other side ended)." %
                       (out["rounds"], out["count"]), ""] + lines + ["", MARK_END])
    if MARK_BEGIN in text:
        text = text[:text.index(MARK_BEGIN)] + block + text[text.index(MARK_END) + len(MARK_END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
    print("wrote " + path)


if __name__ == "__main__":
    sys.exit(main())
