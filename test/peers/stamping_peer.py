"""Raw HTTP peers that answer every XML-RPC call OK and stamp when each arrived.

Usage: stamping_peer.py NAME:DELAY_MS [NAME:DELAY_MS ...]

One listening port per NAME on 127.0.0.1. Prints "listening NAME PORT" for
each, then one JSON line per request:
{"subscriber": NAME, "body": ..., "receivedAt": ms, "acceptedAt": ms}
where "body" is the request body as text, receivedAt is
when the kernel received the request's last byte (wall clock, from TCP_INFO's
tcpi_last_data_recv, so it does not depend on when this process got to run)
and acceptedAt is when accept() returned. It answers after DELAY_MS, then
closes the connection. A test compares these stamps with the times at which
it saw raises change.
Exits when stdin closes or on SIGTERM.
"""
import json
import re
import socket
import struct
import sys
import threading
import time

BODY = (
    '<?xml version="1.0"?>\n<methodResponse><params><param><value><boolean>1</boolean>'
    "</value></param></params></methodResponse>\n"
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\nConnection: close\r\n\r\n"
    + BODY
)
LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
out = threading.Lock()
# struct tcp_info: 8 one-byte fields, then __u32 fields; tcpi_last_data_recv is the 12th (ms ago).
LAST_DATA_RECV_OFFSET = 8 + 11 * 4


def received_at(conn):
    info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    (ago,) = struct.unpack_from("I", info, LAST_DATA_RECV_OFFSET)
    return time.time() * 1000 - ago


def say(line):
    with out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def serve(conn, name, delay, accepted_at):
    try:
        data = b""
        while True:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                length = LENGTH.search(data[:end])
                if len(data) >= end + 4 + (int(length.group(1)) if length else 0):
                    break
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        received = received_at(conn)
        body = data[end + 4 :].decode("utf-8", "replace")
        say(json.dumps({"subscriber": name, "body": body, "receivedAt": received, "acceptedAt": accepted_at}))
        if delay:
            time.sleep(delay / 1000)
        conn.sendall(RESPONSE)
    except OSError:
        pass
    finally:
        conn.close()


def listen(name, delay):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(512)

    def loop():
        while True:
            conn, _ = server.accept()
            accepted_at = time.time() * 1000
            threading.Thread(target=serve, args=(conn, name, delay, accepted_at), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1]


def main():
    for spec in sys.argv[1:]:
        name, delay = spec.split(":")
        say(f"listening {name} {listen(name, int(delay))}")
    try:
        sys.stdin.read()  # until the parent goes away
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
