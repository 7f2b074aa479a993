import net from 'node:net';
import { raiseNameOf } from './raise-names.js';
import { parseRawRequest, type RawRequest } from './vectors.js';

export interface RawPeer {
  port: number;
  requests: RawRequest[];
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now: accepted ones that neither side has closed. */
  readonly open: number;
  /** Every connection accepted, requests or not: the local address it reached. */
  acceptedOn: string[];
  /** Resolves once `count` whole requests arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<RawRequest[]>;
  close(): Promise<void>;
}

/**
 * A bare TCP server that reads each HTTP request whole (by Content-Length)
 * and answers with `reply(request)` (after `delayMs`), or never answers when it returns null.
 */
export async function startRawPeer(
  reply: (request: RawRequest) => string | Buffer | null,
  options: { delayMs?: number; host?: string; port?: number } = {},
): Promise<RawPeer> {
  const requests: RawRequest[] = [];
  const acceptedOn: string[] = [];
  const sockets = new Set<net.Socket>();
  const waiters: Array<() => void> = [];
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    acceptedOn.push(socket.localAddress ?? '');
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    requests,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    acceptedOn,
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = performance.now() + timeoutMs;
      while (requests.length < count) {
        if (performance.now() > deadline) throw new Error(`expected ${count} requests, got ${requests.length}`);
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

/** A response whose body is bytes, with extra header lines (`Name: value`). */
export function binaryResponse(status: number, body: Buffer, extraHeaders: string[] = []): Buffer {
  const head = [`HTTP/1.1 ${status} OK`, 'Content-Type: text/xml', ...extraHeaders, `Content-Length: ${body.length}`, 'Connection: close', '', ''].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

export interface EndlessPeer {
  port: number;
  /** One entry per connection once it closed: the body bytes the kernel accepted from this peer before the client closed. */
  connections: Array<{ bodyBytesWritten: number; closedByClient: boolean }>;
  /** Resolves once `count` connections closed. */
  waitForClosed(count: number, timeoutMs?: number): Promise<EndlessPeer['connections']>;
  close(): Promise<void>;
}

/**
 * Answers every request with `head` (status line and headers, no
 * Content-Length) and then a body of `limitBytes` (default 400 MB) written as
 * fast as the client takes it, streamed, never held in memory at once.
 */
export async function startEndlessPeer(head: string, limitBytes = 400 * 1024 * 1024): Promise<EndlessPeer> {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const connections: EndlessPeer['connections'] = [];
  const sockets = new Set<net.Socket>();
  let wake: (() => void) | undefined;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const headBytes = Buffer.byteLength(head);
    let started = false;
    let sent = 0;
    let closedByClient = false;
    socket.on('error', () => (closedByClient = true));
    socket.on('end', () => (closedByClient = true));
    socket.on('close', () => {
      sockets.delete(socket);
      connections.push({ bodyBytesWritten: Math.max(0, socket.bytesWritten - headBytes), closedByClient });
      wake?.();
    });
    const pump = () => {
      while (!socket.destroyed && sent < limitBytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      if (!socket.destroyed) socket.end();
    };
    let buffer = Buffer.alloc(0);
    socket.on('data', (data) => {
      if (started) return;
      buffer = Buffer.concat([buffer, data]);
      if (buffer.indexOf('\r\n\r\n') < 0) return;
      const request = parseRawRequest(buffer);
      if (request.body.length < Number(request.headers.get('content-length') ?? 0)) return;
      started = true;
      socket.write(head);
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    async waitForClosed(count, timeoutMs = 30_000) {
      const deadline = performance.now() + timeoutMs;
      while (connections.length < count) {
        if (performance.now() > deadline) throw new Error(`expected ${count} closed connections, got ${connections.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
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

/** A raw peer answering XML-RPC OK that stamps each raise (named in its `raise` param) with its arrival time. */
export async function startStampingPeer(): Promise<{ peer: RawPeer; arrivals: Map<string, number> }> {
  const arrivals = new Map<string, number>();
  const peer = await startRawPeer((request) => {
    const raise = raiseNameOf(request.body);
    if (raise && !arrivals.has(raise)) arrivals.set(raise, Date.now());
    return XMLRPC_OK;
  });
  return { peer, arrivals };
}

/** Accepts connections and never answers; counts the ones open at once. */
export async function startCountingBlackhole(): Promise<{ port: number; open(): number; maxOpen(): number; accepted(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let maxOpen = 0;
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    maxOpen = Math.max(maxOpen, sockets.size);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => sockets.size,
    maxOpen: () => maxOpen,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
