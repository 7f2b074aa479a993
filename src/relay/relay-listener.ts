import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import type { EventRelay } from '../api/relay-types.js';
import { MAX_BODY_BYTES, OPENSIPS_USER_AGENT, parseOpenSipsCall, type RelayedCall } from '../core/opensips-call.js';
import { RELAY_FAULTS, faultResponse, okResponse, type RelayFault } from '../core/relay-answer.js';
import { relayOfPath } from '../core/relay-path.js';
import type { ObjectCache } from '../kube/informer.js';
import type { RelayCounters } from './relay-counters.js';
import type { DropReason, RefusalReason, RelayMetrics } from './relay-metrics.js';

/** Connections open at once; beyond that new ones are closed at once (and counted). */
export const MAX_CONNECTIONS = 1024;

/**
 * Connections the kernel completes before the operator accepts them (the
 * kernel caps it at net.core.somaxconn, 4096 by default since Linux 5.4).
 * OpenSIPS's sender connects, writes and closes, one event after another,
 * faster than the relay can take them in a burst; once this queue is full the
 * kernel drops its SYN and the sender waits a whole second for the retransmit.
 * Node's default of 511 is under half a second of a burst, so a burst made
 * the relay idle for most of that second; 4096 keeps it busy through it.
 */
export const ACCEPT_BACKLOG = 4096;

/** Where an accepted event goes: a relay's queue (Memory) or an EventRaise (Durable). */
export interface RelayIntake {
  /** Answers once the event is kept, or why it could not be. */
  take(relay: EventRelay, call: RelayedCall, bytes: number): Promise<{ ok: true } | { ok: false; reason: DropReason; message: string }>;
}

export interface RelayListenerDeps {
  port: number;
  cache: ObjectCache<EventRelay>;
  isReady: () => boolean;
  intake: RelayIntake;
  metrics: RelayMetrics;
  counters: RelayCounters;
  log: Logger;
  now: () => Date;
}

/**
 * The relay port: a POST to a relay's secret path carries one OpenSIPS
 * methodCall. Every replica serves every relay from its informer cache.
 * OpenSIPS writes its request, closes its side and never reads the answer;
 * the event is taken once the whole body is in, whatever the client does
 * next. Sizes and times are bounded: headers, body (MAX_BODY_BYTES),
 * connections (MAX_CONNECTIONS), and the time to send a request.
 */
export class RelayListener {
  private readonly server: http.Server;
  /** winston formats a line before its level filters it: a storm of refusals costs nothing unless debug is on. */
  private readonly debug: boolean;

  constructor(private readonly deps: RelayListenerDeps) {
    this.debug = deps.log.isDebugEnabled();
    this.server = http.createServer(
      { maxHeaderSize: 16_384, requestTimeout: 15_000, headersTimeout: 10_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 2_000 },
      (req, res) => this.handle(req, res),
    );
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.maxHeadersCount = 64;
    this.server.on('drop', () => deps.metrics.connectionsDropped.inc());
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.deps.port, backlog: ACCEPT_BACKLOG }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** No new connections; idle ones end now, requests being handled finish. */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const force = setTimeout(() => this.server.closeAllConnections(), 5_000);
    force.unref();
    return closed.finally(() => clearTimeout(force));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on('error', () => {});
    res.on('error', () => {});
    if (!this.deps.isReady()) return answerFault(res, 'NotReady', 'the operator is starting; try again');
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const named = relayOfPath(path);
    const relay = named && this.deps.cache.get(named.namespace, named.name);
    if (!relay || relay.metadata.deletionTimestamp || !samePath(relay.status?.path, path) || query >= 0) {
      this.deps.metrics.unknownPath.inc();
      if (this.debug) this.deps.log.debug('relay: request to an unknown path', { remote: req.socket.remoteAddress });
      return answerFault(res, 'UnknownPath', 'no relay at this path', true);
    }
    const labels = { namespace: named.namespace, relay: named.name };
    this.deps.metrics.received.inc(labels);
    this.deps.counters.add(relay, 'received', 1, this.deps.now());
    const refuse = (reason: RefusalReason, message: string, close = false) => {
      this.deps.metrics.refused.inc({ ...labels, reason });
      this.deps.counters.add(relay, 'refused');
      if (this.debug) this.deps.log.debug('relay: request refused', { ...labels, reason, message });
      answerFault(res, reason, message, close);
    };
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return refuse('MethodNotAllowed', 'a relay takes POST requests only', true);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return refuse('TooLarge', `a body of ${declared} bytes is over the ${MAX_BODY_BYTES}-byte limit`, true);

    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        over = true;
        chunks.length = 0;
        refuse('TooLarge', `the body is over the ${MAX_BODY_BYTES}-byte limit`, true);
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (over) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const raw = req.headers['user-agent'] === OPENSIPS_USER_AGENT;
      const parsed = parseOpenSipsCall(body, { raw });
      if (!parsed.ok) return refuse(parsed.reason, parsed.message);
      const { call } = parsed;
      if (call.repaired > 0) this.deps.metrics.repaired.inc(labels, call.repaired);
      const events = relay.spec?.events;
      if (events?.length && !events.includes(call.event)) {
        return refuse('NotAccepted', `event ${call.event} is not in spec.events of EventRelay ${named.name}`);
      }
      void this.deps.intake.take(relay, call, body.length).then(
        (taken) => {
          if (taken.ok) {
            this.deps.metrics.accepted.inc(labels);
            this.deps.counters.add(relay, 'accepted');
            return answer(res, 200, okResponse('OK'));
          }
          this.deps.metrics.dropped.inc({ ...labels, reason: taken.reason });
          this.deps.counters.add(relay, 'dropped');
          if (this.debug) this.deps.log.debug('relay: event dropped', { ...labels, event: call.event, reason: taken.reason, message: taken.message });
          answerFault(res, taken.reason, taken.message);
        },
        (err: unknown) => {
          this.deps.log.error('relay: taking an event failed', { ...labels, error: String(err) });
          answerFault(res, 'StoreFailed', 'internal error');
        },
      );
    });
  }
}

/** The request path is the relay's, compared in constant time. */
function samePath(expected: string | undefined, actual: string): boolean {
  if (expected === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(actual);
  return a.length === b.length && timingSafeEqual(a, b);
}

function answerFault(res: http.ServerResponse, fault: RelayFault, message: string, close = false): void {
  const { httpStatus, faultCode } = RELAY_FAULTS[fault];
  if (httpStatus === 503) res.setHeader('Retry-After', '1');
  answer(res, httpStatus, faultResponse(faultCode, `${fault}: ${message}`), close);
}

function answer(res: http.ServerResponse, status: number, body: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  if (close) res.setHeader('Connection', 'close');
  res.writeHead(status, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
