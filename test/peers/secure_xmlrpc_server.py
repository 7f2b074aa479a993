"""A standard-library XML-RPC server over TLS that checks credentials.

    secure_xmlrpc_server.py --cert FILE --key FILE [--client-ca FILE]
                            [--basic USER:PASSWORD] [--bearer-file FILE]

--client-ca requires a client certificate signed by that CA (mutual TLS).
--basic and --bearer-file require that Authorization (the bearer token file is
read again for every request, so a test can rotate it). A request without the
right credentials gets HTTP 401.

Prints "listening <port>" once ready, then one JSON line per request:
{"method": ..., "params": [...], "client": <client certificate CN or null>,
"headers": {<X-* request headers>}} for a call, {"refused": <why>} for a 401.
"""
import argparse
import base64
import json
import ssl
import sys
import threading
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

ARGS = None


def emit(record):
    print(json.dumps(record), flush=True)


class Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ()  # any path

    def log_message(self, *args):
        pass

    def expected_authorization(self):
        if ARGS.basic:
            return "Basic " + base64.b64encode(ARGS.basic.encode()).decode()
        if ARGS.bearer_file:
            with open(ARGS.bearer_file) as f:
                return "Bearer " + f.read().strip()
        return None

    def do_POST(self):
        expected = self.expected_authorization()
        given = self.headers.get("Authorization")
        if expected is not None and given != expected:
            emit({"refused": "no Authorization" if given is None else "wrong Authorization"})
            self.send_response(401, "Unauthorized")
            self.send_header("WWW-Authenticate", "Basic" if ARGS.basic else "Bearer")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.current = self
        super().do_POST()


class Recorder:
    def __init__(self, server):
        self.server = server

    def _dispatch(self, method, params):
        handler = self.server.current
        cert = handler.connection.getpeercert()
        client = None
        if cert:
            client = dict(pair[0] for pair in cert.get("subject", ())).get("commonName")
        headers = {k: v for k, v in handler.headers.items() if k.lower().startswith("x-")}
        emit({"method": method, "params": list(params), "client": client, "headers": headers})
        return True


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca")
    parser.add_argument("--basic")
    parser.add_argument("--bearer-file")
    ARGS = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ARGS.cert, ARGS.key)
    if ARGS.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(ARGS.client_ca)

    server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Handler, logRequests=False, allow_none=True)
    server.current = None
    # A failed handshake raises ssl.SSLError (an OSError) in accept(): socketserver drops that connection and goes on.
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.register_instance(Recorder(server))
    emit_port = server.server_address[1]
    print(f"listening {emit_port}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sys.stdin.read()  # until the parent goes away
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
