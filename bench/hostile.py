"""Does one heavy client starve the others? Measures /healthz and a small GET while `threads`
clients send PATCHes of 1,000 e-mail adds and 1,000-clause searches in a loop, against one server.
usage: hostile.py BASE_URL TOKEN [SECONDS] [THREADS]"""
import json, sys, threading, time, urllib.error, urllib.request

base, token = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
origin = base.split("/scim/")[0]
H = {"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"}


def call(method, path, body=None, url=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url or base + path, method=method, headers=H, data=data)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        e.read()
        status = e.code
    return status, (time.perf_counter() - started) * 1000


def user(name):
    status, _ = call("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
    q = urllib.parse.quote(f'userName eq "{name}"')
    req = urllib.request.Request(f"{base}/Users?filter={q}", headers=H)
    return json.load(urllib.request.urlopen(req))["Resources"][0]["id"]


import urllib.parse
stop = time.time() + seconds
heavy = {"patch": [], "search": []}


def hammer(n):
    uid = user(f"heavy-{n}-{time.time_ns()}@x")
    i = 0
    while time.time() < stop:
        i += 1
        ops = [{"op": "add", "path": "emails", "value": [{"value": f"e{i}-{k}@x"}]} for k in range(1000)]
        status, ms = call("PATCH", f"/Users/{uid}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
        heavy["patch"].append((status, ms))
        # reset the user so that every PATCH does the same work
        call("PATCH", f"/Users/{uid}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": "emails"}]})
        chain = " or ".join(f'userName eq "x{k}@x"' for k in range(1000))
        status, ms = call("POST", "/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": chain, "count": 1})
        heavy["search"].append((status, ms))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


small_id = user(f"small-{time.time_ns()}@x")
quiet = [call("GET", "", url=origin + "/healthz")[1] for _ in range(200)]
workers = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
for w in workers:
    w.start()
time.sleep(0.5)
health, small = [], []
while time.time() < stop:
    health.append(call("GET", "", url=origin + "/healthz")[1])
    small.append(call("GET", f"/Users/{small_id}")[1])
    time.sleep(0.005)
for w in workers:
    w.join()
print(f"healthz idle            p50 {pct(quiet, .5):7.2f} ms  p99 {pct(quiet, .99):7.2f} ms")
print(f"healthz under load      p50 {pct(health, .5):7.2f} ms  p99 {pct(health, .99):7.2f} ms  max {max(health):7.1f} ms  (n={len(health)})")
print(f"GET /Users/id under load p50 {pct(small, .5):7.2f} ms  p99 {pct(small, .99):7.2f} ms  max {max(small):7.1f} ms")
for kind, rows in heavy.items():
    statuses = sorted({s for s, _ in rows})
    print(f"heavy {kind:6}  n={len(rows):4}  status {statuses}  p50 {pct([m for _, m in rows], .5):7.1f} ms")
