#!/usr/bin/env python3
"""PATCH users at a fixed rate (open loop) and record each request's latency (stdlib only).

Latency is measured from when the request was due, not from when it was sent, so a stall of the
server shows in full (no coordinated omission).

usage: retention.py BASE_URL TOKEN IDS_FILE RATE SECONDS OUT_FILE
OUT_FILE gets one line per request as it finishes: "<due unix time> <latency seconds> <status>"
(written at once, so a loader that is stopped keeps what it measured).
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

THREADS = 16


def main():
    base, token, ids_file, rate, seconds, out = sys.argv[1:7]
    rate, seconds = float(rate), float(seconds)
    ids = [line.strip() for line in open(ids_file) if line.strip()]
    url = urllib.parse.urlparse(base)
    total = int(rate * seconds)
    start = time.time() + 0.5
    lock = threading.Lock()
    next_slot = [0]
    results = open(out, "w", buffering=1)

    def worker():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        while True:
            with lock:
                k = next_slot[0]
                next_slot[0] += 1
            if k >= total:
                return
            due = start + k / rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            body = json.dumps({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": f"Title {k}"}],
            })
            try:
                conn.request("PATCH", f"{url.path}/Users/{ids[k % len(ids)]}", body, headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
                status = 0
            done = time.time()
            with lock:
                results.write(f"{due:.6f} {done - due:.6f} {status}\n")

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.close()


if __name__ == "__main__":
    main()
