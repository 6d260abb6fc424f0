"""Token check latency: Token.Check on the public socket (a new connection per
check, as a service without pooling) and the HTTP checker (keep-alive)."""
import sys, json, os, socket, time, statistics
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'e2e'))
import harness
e=harness.Env()
e.conf["tokens"]={"http_socket": os.path.join(e.dir,"token-http.sock")}
e.write_conf(); e.start()
try:
    p=e.ctl("token","issue","--owner","alice","--name","m","--scope","api","--json")
    tok=json.loads(p.stdout)["token"]
    # public socket, one connection per check (as a service would do without pooling)
    lat=[]
    for i in range(2000):
        t=time.perf_counter(); r=harness.raw_call(e.socket,"io.vigil.Token.Check",{"token":tok,"scope":"api"}); lat.append(time.perf_counter()-t)
        assert r["parameters"]["verdict"]=="valid"
    lat.sort(); print("Token.Check public socket, new connection each: p50 %.0f us, p99 %.0f us" % (lat[len(lat)//2]*1e6, lat[int(len(lat)*.99)]*1e6))
    # HTTP keep-alive
    s=socket.socket(socket.AF_UNIX); s.connect(os.path.join(e.dir,"token-http.sock"))
    req=("GET /auth/api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"%tok).encode()
    lat=[]
    for i in range(5000):
        t=time.perf_counter(); s.sendall(req); d=b""
        while b"\r\n\r\n" not in d: d+=s.recv(4096)
        lat.append(time.perf_counter()-t); assert d.startswith(b"HTTP/1.1 200")
    lat.sort(); print("HTTP checker, keep-alive: p50 %.0f us, p99 %.0f us" % (lat[len(lat)//2]*1e6, lat[int(len(lat)*.99)]*1e6))
finally:
    e.close()
