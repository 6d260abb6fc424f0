"""The benchmarks' own measuring helpers (suite bench): bench/perprocess.py,
where the login processes and the daemons run while they are measured and
how the costs and the ratio's interval come out of the groups; and
bench/procstat.py's runtime_of(), a daemon's CPU time with its ended
threads. Asserts no timing."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perprocess  # noqa: E402
import procstat  # noqa: E402

# A daemon with two threads, both of which must move.
DAEMON = """import threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
print("up", flush=True)
time.sleep(60)
"""


# The CPUs this process may use when the tests start: each test must leave
# them so.
CPUS = sorted(os.sched_getaffinity(0))


def affinity_of_threads(pid):
    return {int(t): os.sched_getaffinity(int(t)) for t in os.listdir("/proc/%d/task" % pid)}


class Placement(unittest.TestCase):
    def setUp(self):
        self.assertEqual(sorted(os.sched_getaffinity(0)), CPUS, "an earlier test left this process pinned")
        self.cpus = CPUS
        self.daemon = subprocess.Popen([sys.executable, "-c", DAEMON], stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.daemon.stdout.close)
        self.addCleanup(self.daemon.wait)
        self.addCleanup(self.daemon.kill)
        self.assertEqual(self.daemon.stdout.readline().strip(), "up")

    def test_logins_on_one_cpu_and_every_daemon_thread_on_the_others(self):
        if len(self.cpus) < 2:
            self.skipTest("one CPU: nothing to place")
        mine = os.sched_getaffinity(0)
        before = affinity_of_threads(self.daemon.pid)
        self.assertEqual(len(before), 2)
        undo = perprocess.placement([self.daemon.pid])
        try:
            self.assertEqual(os.sched_getaffinity(0), {self.cpus[0]})
            # A process spawned now (a login) inherits the parent's CPU.
            child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                                   capture_output=True, text=True, check=True)
            self.assertEqual(child.stdout.strip(), str([self.cpus[0]]))
            for tid, cpus in affinity_of_threads(self.daemon.pid).items():
                self.assertEqual(cpus, set(self.cpus[1:]), "thread %d" % tid)
        finally:
            undo()
        self.assertEqual(os.sched_getaffinity(0), mine)
        self.assertEqual(affinity_of_threads(self.daemon.pid), before)

    def test_a_daemon_that_is_gone_is_passed_over(self):
        if len(self.cpus) < 2:
            self.skipTest("one CPU: nothing to place")
        gone = subprocess.Popen(["true"])
        gone.wait()
        undo = perprocess.placement([gone.pid, self.daemon.pid])
        try:
            self.assertEqual(os.sched_getaffinity(0), {self.cpus[0]})
            self.assertTrue(all(c == set(self.cpus[1:]) for c in affinity_of_threads(self.daemon.pid).values()))
        finally:
            undo()
        self.assertEqual(sorted(os.sched_getaffinity(0)), self.cpus)


class Costs(unittest.TestCase):
    def test_differences_of_medians_and_their_ratio(self):
        groups = [{"A": 1000 + i, "B": 1400 + i, "C": 1200 + i, "D": 1300 + i} for i in range(40)]
        c = perprocess.costs(groups)
        self.assertEqual((c["faillock_cost_us"], c["vigil_cost_us"], c["module_cost_us"]), (400, 200, 300))
        self.assertAlmostEqual(c["ratio"], 0.5)
        self.assertEqual(c["ratio_95"], [0.5, 0.5])

    def test_the_interval_holds_the_ratio_and_widens_with_noise(self):
        import random
        rng = random.Random(3)
        groups = [{"A": 1000 + rng.gauss(0, 50), "B": 1400 + rng.gauss(0, 50), "C": 1200 + rng.gauss(0, 50)}
                  for _ in range(200)]
        c = perprocess.costs(groups)
        lo, hi = c["ratio_95"]
        self.assertLess(lo, c["ratio"])
        self.assertGreater(hi, c["ratio"])
        self.assertLess(hi - lo, 0.3)
        self.assertIsNone(c["module_cost_us"])

    def test_no_interval_when_faillock_costs_nothing(self):
        groups = [{"A": 1000 + (i % 7) * 10, "B": 1000 + (i % 5) * 10, "C": 1100} for i in range(50)]
        c = perprocess.costs(groups)
        self.assertIsNone(c["ratio_95"])


# Burns CPU in a thread that then ends, then in its main thread, then waits.
BURNER = """import threading, time
def burn(s):
    end = time.thread_time() + s
    while time.thread_time() < end:
        pass
t = threading.Thread(target=burn, args=(0.15,))
t.start(); t.join()
burn(0.1)
print("burnt", flush=True)
time.sleep(60)
"""


class RuntimeOf(unittest.TestCase):
    def test_counts_live_and_ended_threads_like_the_ticks_do(self):
        p = subprocess.Popen([sys.executable, "-c", BURNER], stdout=subprocess.PIPE, text=True)
        self.addCleanup(p.stdout.close)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline().strip(), "burnt")
        precise, ticks = procstat.runtime_of(p.pid), procstat.cpu_of(p.pid)
        self.assertGreaterEqual(precise, 0.25)  # both threads' work, the ended one's too
        self.assertLess(abs(precise - ticks), 3.0 / procstat.TICK)


if __name__ == "__main__":
    unittest.main()
