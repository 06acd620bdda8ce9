#!/usr/bin/env python3
"""The convergence benchmark's API client: one long-lived process, so an event's start is the moment
its request is written, not before a curl process starts (80-120 ms of exec and library loading at
load 12 on this machine, which the latency used to include).

Reads "METHOD PATH BODY" lines on stdin (PATH under /v1, BODY compact JSON, may be empty); for each
writes "START STATUS SECONDS" on stdout: the time just before the request was written (seconds
since 1970), the HTTP status, and the time until the whole answer was read.

    agent-convergence-client.py SOCKET
"""
import http.client
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.socket_path)


def main():
    path = sys.argv[1]
    for line in sys.stdin:
        method, target, body = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
        connection = UnixConnection(path)
        # Connected before the clock starts (a unix socket connect takes microseconds); headers and
        # body go out in one write.
        connection.connect()
        start = time.time()
        connection.request(
            method, "/v1" + target, body=body.encode(),
            headers={"content-type": "application/json", "connection": "close"})
        response = connection.getresponse()
        response.read()
        elapsed = time.time() - start
        connection.close()
        print(f"{start:.6f} {response.status} {elapsed:.6f}", flush=True)


if __name__ == "__main__":
    main()
