"""The story of a lock, told by the real daemon and the real PAM stack."""
import json
import os
import re
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("VIGIL_BUILD_DIR", os.path.join(ROOT, os.environ.get("BUILD_DIR", "build")))

import harness  # noqa: E402

RC = {0: "PAM_SUCCESS", 7: "PAM_AUTH_ERR (Authentication failure)", 9: "PAM_AUTHINFO_UNAVAIL"}
RHOST = "203.0.113.7"


def step(title):
    print("\n\033[1m== %s\033[0m" % title)


def attempt(env, user, password, label):
    out = env.pam(user, [password], rhost=RHOST, tty="ssh", service="vigil")
    rc = out["results"][0]["rc"]
    prompts = " ".join(repr(m["text"]) for m in out["messages"])
    print("  %-34s -> %s   (conversation: %s)" % (label, RC.get(rc, rc), prompts))
    return rc


def show_status(env, user):
    p = env.ctl("status", user)
    for line in p.stdout.splitlines():
        print("    " + line)


def main():
    with open(os.path.join(ROOT, "conf", "vigil.conf")) as f:
        text = f.read()
    env = harness.Env(conf_text="")
    text = re.sub(r'^socket = .*$', 'socket = "%s"' % env.socket, text, flags=re.M)
    text = re.sub(r'^state_dir = .*$', 'state_dir = "%s"' % env.state, text, flags=re.M)
    text = re.sub(r'^admin_socket = .*$', 'admin_socket = "%s"' % env.admin_socket, text, flags=re.M)
    # dave administers this host: a member of wheel ([roles] admin_groups).
    with open(env.group, "a") as f:
        f.write("wheel:x:1200:dave\n")
    with open(env.conf_path, "w") as f:
        f.write(text)
    try:
        step("The shipped configuration (conf/vigil.conf), with a scratch socket and state dir")
        for line in text.splitlines():
            if line and not line.startswith("#"):
                print("    " + line)
        print("\n  PAM stack (%s/pam.d/vigil):" % env.dir)
        with open(os.path.join(env.svc, "vigil")) as f:
            for line in f:
                print("    " + line.rstrip().replace(harness.BUILD, "build"))

        step("Start vigild")
        env.start()
        print("  vigild pid %d listening on %s and %s" % (env.proc.pid, env.socket, env.admin_socket))

        step("dave, an administrator, enrols his second factor (codes from oathtool)")
        p = env.ctl("totp", "enroll", "dave", "--json", check=True)
        secret = json.loads(p.stdout)["secret"]
        harness.wait_for_fresh_step()
        p = env.ctl("totp", "confirm", "dave", env={"VIGIL_CODE": harness.oathtool(secret)}, check=True)
        print("  # vigilctl totp confirm dave\n    " + p.stdout.strip().splitlines()[0])

        step("alice logs in with her password")
        attempt(env, "alice", "alice-pw", "right password")

        step("An attacker at %s guesses alice's password" % RHOST)
        for i in range(1, 6):
            attempt(env, "alice", "guess-%d" % i, "wrong password #%d" % i)
        print("  vigilctl status alice:")
        show_status(env, "alice")

        step("While locked, even the right password is refused, with the same answer")
        attempt(env, "alice", "alice-pw", "right password (locked)")
        attempt(env, "alice", "guess-6", "wrong password (locked)")

        step("kill -9 vigild, start it again: the lock is on disk")
        env.kill9()
        print("  vigild killed")
        env.start()
        print("  vigild restarted, pid %d" % env.proc.pid)
        show_status(env, "alice")
        attempt(env, "alice", "alice-pw", "right password (still locked)")

        step("Unlock: the lock ends by itself after unlock_time (10m here), or an admin resets it")
        p = env.ctl("reset", "alice", uid=1004, groups=(harness.ADMIN_SOCKET_GROUP[1],))
        print("  # (as dave) vigilctl reset alice     without his code:\n    " + p.stderr.strip())
        p = env.ctl("reset", "alice", uid=1004, groups=(harness.ADMIN_SOCKET_GROUP[1],),
                    env={"VIGIL_CODE": harness.oathtool(secret, +30)})
        print("  # (as dave) VIGIL_CODE=<his code> vigilctl reset alice\n    " + p.stdout.strip())
        attempt(env, "alice", "alice-pw", "right password")
        show_status(env, "alice")

        step("What vigild logged (no password, no unknown user name)")
        for line in env.log().splitlines():
            print("    " + line)
        print("\ndemo finished: the lock held across a crash, and a locked login looked exactly "
              "like a wrong password.")
    finally:
        env.close()


if __name__ == "__main__":
    main()
