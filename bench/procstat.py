"""CPU time of live processes from /proc, for bench/attack.py and
bench/transport.py. cpu_of() counts in 10 ms ticks (measure over many
operations); runtime_of() counts a process's live threads to the
nanosecond."""
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


def runtime_of(pid, children=True):
    """CPU seconds of a live process, like cpu_of(), but its live threads'
    run time to the nanosecond (/proc/PID/task/TID/schedstat, the
    scheduler's own sum). The threads that have ended, and the reaped
    children when asked, are counted in ticks: the kernel keeps only that
    for them. Without schedstat (a kernel built without it), cpu_of()."""
    f = stat_fields(pid)
    live_ns = live_ticks = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return cpu_of(pid, children)
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as s:
                ns = int(s.read().split()[0])
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as s:
                t = s.read()
        except FileNotFoundError:  # the thread ended meanwhile: its time is in the process's ticks
            continue
        except OSError:
            return cpu_of(pid, children)
        tf = t[t.rindex(")") + 2:].split()
        live_ns += ns
        live_ticks += int(tf[11]) + int(tf[12])
    ended = max(0, int(f[11]) + int(f[12]) - live_ticks)
    total = live_ns / 1e9 + ended / TICK
    if children:
        total += (int(f[13]) + int(f[14])) / TICK
    return total
