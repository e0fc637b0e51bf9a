#!/usr/bin/env python3
"""POST N users to a SCIM server over keep-alive connections (stdlib only).

usage: seed.py BASE_URL TOKEN N [THREADS]
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def worker(base, token, start, stop, errors):
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    for n in range(start, stop):
        name = f"seed-{n:06d}@example.com"
        body = json.dumps({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name, "externalId": f"ext-{n}",
            "name": {"givenName": "Seed", "familyName": f"User{n}"},
            "displayName": f"Seed User {n}",
            "emails": [{"value": name, "type": "work", "primary": True}],
            "active": True,
        })
        conn.request("POST", url.path + "/Users", body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            errors.append(response.status)


def main():
    base, token, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    errors = []
    step = (total + threads - 1) // threads
    started = time.time()
    pool = [threading.Thread(target=worker, args=(base, token, i * step, min(total, (i + 1) * step), errors))
            for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.time() - started
    print(f"seeded {total - len(errors)} users into {base} in {took:.1f}s ({total / took:.0f}/s), {len(errors)} errors")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
