#!/usr/bin/env python3
"""Group-at-scale timings against a running scim-bridge (stdlib only), measured at the client.

usage: groups.py BASE_URL TOKEN
Needs at least 100,050 users on the server (bench/groups.sh seeds them). Builds a group of 100,000
members with PATCHes of 1,000, then times: a one-member add to that group, a GET of it with
excludedAttributes=members, and a GET listing every member.
"""
import http.client
import json
import statistics
import sys
import time
import urllib.parse

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Client:
    def __init__(self, base, token):
        self.url = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def call(self, method, path, body=None):
        started = time.perf_counter()
        self.conn.request(method, self.url.path + path, json.dumps(body) if body is not None else None, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
        return elapsed, data


def summary(name, samples, target_ms):
    samples = sorted(samples)
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    verdict = "ok" if p50 < target_ms else "OVER TARGET"
    print(f"{name:<44} n={len(samples):<4} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  max {samples[-1]:8.2f} ms  (target {target_ms} ms: {verdict})")


def main():
    client = Client(sys.argv[1], sys.argv[2])
    ids = []
    start = 1
    while True:
        _, data = client.call("GET", f"/Users?attributes=id&startIndex={start}&count=1000")
        page = json.loads(data)["Resources"]
        ids += [r["id"] for r in page]
        start += len(page)
        if not page:
            break
    if len(ids) < 100_050:
        raise SystemExit(f"need 100,050 users, found {len(ids)}")
    _, data = client.call("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                            "displayName": f"Big {time.time()}", "members": []})
    group = json.loads(data)["id"]
    batch_ms = []
    for n in range(100):
        members = [{"value": i} for i in ids[n * 1000:(n + 1) * 1000]]
        ms, _ = client.call("PATCH", f"/Groups/{group}", {"schemas": [PATCH_OP],
                            "Operations": [{"op": "add", "path": "members", "value": members}]})
        batch_ms.append(ms)
    summary("PATCH adding 1,000 members", batch_ms, 200)
    single_ms = []
    for i in ids[100_000:100_050]:
        ms, _ = client.call("PATCH", f"/Groups/{group}", {"schemas": [PATCH_OP],
                            "Operations": [{"op": "add", "path": "members", "value": [{"value": i}]}]})
        single_ms.append(ms)
    summary("PATCH adding 1 member to a 100k group", single_ms, 5)
    lean_ms = [client.call("GET", f"/Groups/{group}?excludedAttributes=members")[0] for _ in range(200)]
    summary("GET group ?excludedAttributes=members", lean_ms, 2)
    full = []
    for _ in range(5):
        ms, data = client.call("GET", f"/Groups/{group}")
        full.append(ms)
    count = len(json.loads(data)["members"])
    summary(f"GET group listing all {count} members", full, 1000)


if __name__ == "__main__":
    main()
