"""A TCP port that listens but never completes a connection: SYNs are dropped.

Listens on 127.0.0.1 with a backlog of 0 and never calls accept(). Linux
queues backlog + 1 finished handshakes; once that accept queue is full it
drops every further SYN (it neither answers nor refuses), so a client's
connect() hangs in SYN retransmissions until the client gives up.

This process fills the queue itself: it opens idle connections to its own
port until one does not complete within FILL_PROBE_SECONDS, keeps the ones
that did (they stay queued as long as this process lives), and then prints
"blackhole <port> <filled>" on stdout. It exits when stdin closes (its parent
died or closed the pipe) or on SIGTERM.
"""
import errno
import select
import socket
import sys

FILL_PROBE_SECONDS = 0.5
MAX_FILL = 16


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]

    filled = []
    while True:
        if len(filled) >= MAX_FILL:
            print(f"accept queue of port {port} still not full after {MAX_FILL} connections", file=sys.stderr)
            return 1
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.setblocking(False)
        code = probe.connect_ex(("127.0.0.1", port))
        if code not in (0, errno.EINPROGRESS):
            print(f"connect to own port {port}: {errno.errorcode.get(code, code)}", file=sys.stderr)
            return 1
        _, writable, _ = select.select([], [probe], [], FILL_PROBE_SECONDS)
        if not writable:
            probe.close()  # its SYN was dropped: the queue is full
            break
        error = probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            print(f"connect to own port {port}: {errno.errorcode.get(error, error)}", file=sys.stderr)
            return 1
        filled.append(probe)

    print(f"blackhole {port} {len(filled)}", flush=True)
    try:
        sys.stdin.read()  # until the parent goes away
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
