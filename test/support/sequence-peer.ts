// An XML-RPC server that notes the order in which numbered events reach it,
// and how many of its requests were open at once: what ordered delivery is
// about. Each event carries an int param named `seq`.
import net from 'node:net';
import { parseRawRequest } from './vectors.js';
import { XMLRPC_OK, httpResponse } from './tcp-peers.js';

export interface Arrival {
  seq: number;
  /** 1 for the first request of this seq, 2 for its first retry, ... */
  attempt: number;
  /** Requests open (received, not answered yet, or never to be answered and not closed) when this one arrived, itself included. */
  open: number;
}

export type Answer = 'ok' | 'fail' | 'never';

export interface SequencePeer {
  port: number;
  arrivals: Arrival[];
  /** The seqs in arrival order. */
  order(): number[];
  maxOpen(): number;
  waitFor(check: (arrivals: Arrival[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** `answer(seq, attempt)` decides each reply: 200 with a methodResponse, HTTP 500, or none at all; sent after `delayMs`. */
export async function startSequencePeer(answer: (seq: number, attempt: number) => Answer = () => 'ok', delayMs = 5): Promise<SequencePeer> {
  const arrivals: Arrival[] = [];
  const attempts = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  let open = 0;
  let maxOpen = 0;
  const waiters = new Set<() => void>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let counted = false;
    let answered = false;
    let closed = false;
    socket.on('close', () => {
      sockets.delete(socket);
      closed = true;
      if (counted && !answered) open--;
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.indexOf('\r\n\r\n') < 0) return;
      const request = parseRawRequest(buffer);
      if (request.body.length < Number(request.headers.get('content-length') ?? 0) || counted) return;
      counted = true;
      open++;
      maxOpen = Math.max(maxOpen, open);
      const seq = Number(/<name>seq<\/name>\s*<value><int>(-?\d+)<\/int>/.exec(request.body.toString())?.[1] ?? NaN);
      const attempt = (attempts.get(seq) ?? 0) + 1;
      attempts.set(seq, attempt);
      arrivals.push({ seq, attempt, open });
      for (const wake of waiters) wake();
      const reply = answer(seq, attempt);
      if (reply === 'never') return;
      setTimeout(() => {
        if (closed) return; // the client gave up: counted at its close
        // Answered: a client that waits for answers may send its next request from now on.
        answered = true;
        open--;
        socket.end(reply === 'ok' ? XMLRPC_OK : httpResponse(500, 'try again', 'Internal Server Error'));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    arrivals,
    order: () => arrivals.map((a) => a.seq),
    maxOpen: () => maxOpen,
    async waitFor(check, timeoutMs = 30_000) {
      const deadline = performance.now() + timeoutMs;
      while (!check(arrivals)) {
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`timed out; arrivals: ${JSON.stringify(arrivals.map((a) => `${a.seq}/${a.attempt}`))}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, Math.min(left, 200));
          waiters.add(wake);
        });
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The first arrival of every seq, in arrival order. */
export function firstArrivals(arrivals: Arrival[]): number[] {
  return arrivals.filter((a) => a.attempt === 1).map((a) => a.seq);
}
