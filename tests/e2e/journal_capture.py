"""Helper for test_failmode: run inside a private mount namespace with a
tmpfs on /run, listen where journald listens, run pamdrive, and print the
journal entries it sent (native protocol, KEY=value lines) as JSON."""
import json
import os
import socket
import subprocess
import sys

os.makedirs("/run/systemd/journal", exist_ok=True)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("/run/systemd/journal/socket")
sock.settimeout(0.5)
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
entries = []
while True:
    try:
        data = sock.recv(65536)
    except socket.timeout:
        break
    fields = {}
    for line in data.decode(errors="replace").split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            fields[k] = v
    entries.append(fields)
print(json.dumps({"pamdrive": out.stdout, "entries": entries}))
