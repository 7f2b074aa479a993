// A small XML-RPC server that prints every call it receives, readably.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
// The npm xmlrpc package's own decoder and encoder, without its dispatch-by-method-name server.
import Deserializer from 'xmlrpc/lib/deserializer.js';
import Serializer from 'xmlrpc/lib/serializer.js';

export interface DemoServer {
  port: number;
  close(): Promise<void>;
}

/** Answers every call with true, and prints its method, event and params. */
export async function startDemoServer(port: number, print: (line: string) => void): Promise<DemoServer> {
  const server = http.createServer((req, res) => {
    new Deserializer().deserializeMethodCall(req, (error: Error | null, method: string, params: unknown[]) => {
      if (error) {
        print(`${req.method} ${req.url}: not an XML-RPC call (${error.message})`);
        res.writeHead(400).end();
        return;
      }
      print(describeCall(method, req.url ?? '/', params));
      res.writeHead(200, { 'Content-Type': 'text/xml' }).end(Serializer.serializeMethodResponse(true));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function describeCall(method: string, path: string, params: unknown[]): string {
  const [event, ...rest] = params;
  const time = new Date().toISOString().slice(11, 23);
  return `${time}  POST ${path}  ${method}(${String(event)}) ${rest.map((p) => JSON.stringify(p)).join(' ')}`;
}
