"""A standard-library XML-RPC server that records every call.

Prints "listening <port>" once ready, then one JSON line per call:
{"method": ..., "params": [...]}. Every method answers True, except
"fail_with_fault", which answers an XML-RPC fault (code 4).
Exits when stdin closes (its parent went away) or on SIGTERM.
"""
import json
import sys
import threading
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


class Quiet(SimpleXMLRPCRequestHandler):
    rpc_paths = ()  # any path: subscribers may name their own

    def log_message(self, *args):
        pass


class Recorder:
    def _dispatch(self, method, params):
        print(json.dumps({"method": method, "params": list(params)}), flush=True)
        if method == "fail_with_fault":
            raise Exception("refused by the test server")
        return True


def main():
    server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Quiet, logRequests=False, allow_none=True)
    server.register_instance(Recorder())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        sys.stdin.read()  # until the parent goes away
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
