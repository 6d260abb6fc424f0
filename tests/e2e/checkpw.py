"""A password module for the tests, run by pam_exec expose_authtok: unlike
pam_matrix, it leaves PAM_AUTHTOK set after the password step, as pam_unix
and pam_sss do (pam_matrix wipes it). Exit 0 when the password is right."""
import os
import sys

passdb = sys.argv[1]
user = os.environ.get("PAM_USER", "")
given = sys.stdin.buffer.read().rstrip(b"\0").rstrip(b"\n")
with open(passdb, "rb") as f:
    for line in f:
        name, _, rest = line.rstrip(b"\n").partition(b":")
        password = rest.split(b":")[0]
        if name == user.encode() and password == given:
            sys.exit(0)
sys.exit(1)
