#!/usr/bin/env python3
"""One bulk request of N user creates against N separate POSTs (stdlib only).

usage: bulk.py BASE_URL TOKEN N ROUNDS
Each round: one POST /Bulk with N creates (its wall time), then N POST /Users over 8 keep-alive
connections (theirs), with fresh userNames. Prints each round and the medians.
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def user(name):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
            "externalId": name, "name": {"givenName": "Bulk", "familyName": name},
            "displayName": name, "emails": [{"value": name, "type": "work", "primary": True}],
            "active": True}


def connect(base):
    url = urllib.parse.urlparse(base)
    return url, http.client.HTTPConnection(url.hostname, url.port, timeout=120)


def bulk(base, token, names):
    url, conn = connect(base)
    operations = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": user(n)} for i, n in enumerate(names)]
    body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    started = time.perf_counter()
    conn.request("POST", url.path + "/Bulk", body, headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    took = time.perf_counter() - started
    created = sum(1 for op in answer.get("Operations", []) if op.get("status") == "201")
    if response.status != 200 or created != len(names):
        sys.exit(f"bulk: HTTP {response.status}, {created} of {len(names)} created")
    return took, len(body)


def posts(base, token, names, threads=8):
    errors = []

    def worker(chunk):
        url, conn = connect(base)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        for n in chunk:
            conn.request("POST", url.path + "/Users", json.dumps(user(n)), headers)
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                errors.append(response.status)

    chunks = [names[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.perf_counter() - started
    if errors:
        sys.exit(f"posts: {len(errors)} errors")
    return took


def main():
    base, token, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    bulk_times, post_times = [], []
    for r in range(rounds):
        took, size = bulk(base, token, [f"bulk-{r}-{i:05d}@example.com" for i in range(n)])
        bulk_times.append(took)
        post_times.append(posts(base, token, [f"post-{r}-{i:05d}@example.com" for i in range(n)]))
        print(f"round {r + 1}: one bulk of {n} creates ({size // 1024} KiB) {took * 1000:.0f} ms; "
              f"{n} POSTs on 8 connections {post_times[-1] * 1000:.0f} ms")
    b, p = statistics.median(bulk_times), statistics.median(post_times)
    print(f"median: bulk {b * 1000:.0f} ms ({b / n * 1e6:.0f} µs a user), "
          f"POSTs {p * 1000:.0f} ms ({p / n * 1e6:.0f} µs a user); bulk/POSTs time {b / p:.2f}")


if __name__ == "__main__":
    main()
