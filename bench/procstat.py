"""CPU time of live processes from /proc, for bench/attack.py and
bench/transport.py (10 ms ticks: measure over many operations)."""
import os

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """/proc/PID/stat's fields after the command name (field 3 first)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()


def cpu_of(pid, children=True):
    """CPU seconds of a live process (all its threads), with its reaped
    children's when asked."""
    f = stat_fields(pid)
    t = int(f[11]) + int(f[12])
    if children:
        t += int(f[13]) + int(f[14])
    return t / TICK
