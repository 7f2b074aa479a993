import net from 'node:net';
import { parseRawRequest, type RawRequest } from './vectors.js';

export interface RawPeer {
  port: number;
  requests: RawRequest[];
  /** Resolves once `count` whole requests arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<RawRequest[]>;
  close(): Promise<void>;
}

/**
 * A bare TCP server that reads each HTTP request whole (by Content-Length)
 * and answers with `reply(request)` (after `delayMs`), or never answers when it returns null.
 */
export async function startRawPeer(
  reply: (request: RawRequest) => string | null,
  options: { delayMs?: number } = {},
): Promise<RawPeer> {
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  const waiters: Array<() => void> = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const request = parseRawRequest(buffer);
      if (request.body.length < Number(request.headers.get('content-length') ?? 0)) return;
      requests.push(request);
      for (const wake of waiters.splice(0)) wake();
      const answer = reply(request);
      if (answer === null) return;
      if (options.delayMs) setTimeout(() => socket.end(answer), options.delayMs);
      else socket.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    requests,
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} requests, got ${requests.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export function httpResponse(status: number, body: string, reason = 'OK'): string {
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export const XMLRPC_OK = httpResponse(
  200,
  '<?xml version="1.0"?>\n<methodResponse><params><param><value><boolean>1</boolean></value></param></params></methodResponse>\n',
);

export function xmlRpcFault(code: number, text: string): string {
  return httpResponse(
    200,
    '<?xml version="1.0"?>\n<methodResponse><fault><value><struct>' +
      `<member><name>faultCode</name><value><int>${code}</int></value></member>` +
      `<member><name>faultString</name><value><string>${text}</string></value></member>` +
      '</struct></value></fault></methodResponse>\n',
  );
}

/** A loopback port with nothing listening: connecting to it is refused. */
export async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
