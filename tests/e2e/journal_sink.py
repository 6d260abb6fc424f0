"""Helper for test_report: stands in for journald for one vigild.

usage (root, in a private mount namespace with a tmpfs on /run):
    journal_sink.py OUT VIGILD ARG...

Listens where journald listens (/run/systemd/journal/socket), starts vigild
with its stderr as the journal stream ($JOURNAL_STREAM names it, as systemd
does), so vigild sends every event there with its structured fields. Each
entry is appended to OUT as one line of JSON, and to stderr (the test's
log) as text. SIGTERM, SIGINT and SIGHUP go to vigild; the sink exits with
vigild's status, and vigild dies with the sink."""
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading

PR_SET_PDEATHSIG = 1


def main():
    out_path, argv = sys.argv[1], sys.argv[2:]
    os.makedirs("/run/systemd/journal", exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/run/systemd/journal/socket")
    st = os.fstat(2)
    env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    libc = ctypes.CDLL(None, use_errno=True)
    child = subprocess.Popen(argv, env=env, stderr=2,
                             preexec_fn=lambda: libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: child.send_signal(s))

    def pump():
        with open(out_path, "a") as out:
            while True:
                data = sock.recv(65536)
                fields = {}
                for line in data.decode(errors="replace").split("\n"):
                    if "=" in line:
                        k, v = line.split("=", 1)
                        fields[k] = v
                out.write(json.dumps(fields) + "\n")
                out.flush()
                extra = " ".join("%s=%s" % (k, v) for k, v in fields.items() if k != "MESSAGE")
                sys.stderr.write("vigild (journal): %s [%s]\n" % (fields.get("MESSAGE", ""), extra))
                sys.stderr.flush()

    threading.Thread(target=pump, daemon=True).start()
    rc = child.wait()
    sys.exit(rc if rc >= 0 else 128 - rc)


if __name__ == "__main__":
    main()
