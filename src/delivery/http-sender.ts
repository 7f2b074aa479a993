import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { DeliveryReason } from '../api/conditions.js';
import { EgressPolicy } from '../core/egress-policy.js';
import { requestHeaders, type HeaderLines } from '../core/http-request.js';
import { bodyTooLarge, judgeBody, judgeHead } from '../core/http-response.js';
import type { DeliveryTarget } from '../core/socket.js';
import { truncate } from '../core/text.js';
import { clampTimerMs } from '../core/timer.js';
import { EGRESS_DENIED_CODE, EgressGuard } from './egress-guard.js';

/** Status line and headers of a response, at most; Node's default, set per request so no global option raises it. */
export const MAX_RESPONSE_HEADER_BYTES = 16 * 1024;

/**
 * How long a kept-alive connection may wait idle for its next request: below
 * the 5 s after which Node's and Apache's servers close theirs, so a request
 * seldom meets a connection its server is closing. A shorter `Keep-Alive:
 * timeout=` from the server shortens it (less a second).
 */
export const KEEP_ALIVE_IDLE_MS = 2_000;

export interface SenderOptions {
  userAgent: string;
  connectTimeoutMs: number;
  /** From the end of the upload to the response headers, and again from them to the end of the body. */
  responseTimeoutMs: number;
  /** Body bytes read at most; past them the connection is closed. */
  maxResponseBytes: number;
  /** Where connections may go; default: the default denials only. */
  egress?: EgressGuard;
  /** Idle kept-alive connections kept per server (spec.delivery.keepAlive); default 16, --max-per-subscriber. */
  maxIdlePerServer?: number;
  /** How long a kept-alive connection may stay idle; default KEEP_ALIVE_IDLE_MS, 0 until the server closes it. */
  keepAliveIdleMs?: number;
}

/** Per-subscriber connection settings, read afresh before each attempt (spec.tls, spec.auth). */
export interface ConnectionSettings {
  /** HTTPS; the target's URL is https:// too. */
  tls?: {
    /** PEM; replaces the system's trusted CAs. */
    ca?: string;
    /** PEM client certificate and key, for mTLS. */
    cert?: string;
    key?: string;
    /** SNI and the name the certificate must hold; default the socket's host. */
    servername?: string;
    rejectUnauthorized: boolean;
  };
  /** Sent after the headers of the core (credentials): never logged nor recorded. */
  headers?: HeaderLines;
  /** The connection stays open for the next request to the same server (spec.delivery.keepAlive). */
  keepAlive?: boolean;
}

export interface DeliveryResult {
  outcome: 'Delivered' | 'Failed';
  /** The request reached the server's socket (OpenSIPS's notion of success). */
  written: boolean;
  httpStatus?: number;
  faultCode?: number;
  faultString?: string;
  /** Why the attempt failed; on a Delivered result, why the body did not decide (the HTTP status did). */
  error?: string;
  /** From a Retry-After header on HTTP 429 or 503. */
  retryAfterMs?: number;
  /** Set on failures no retry can mend, which the status names (EgressDenied, TLSFailed, ...). */
  reason?: DeliveryReason;
  /** The request went on a connection it opened, or on a kept-alive one; unset when none was made (refused, timed out, TLS handshake failed). */
  connection?: 'new' | 'reused';
  durationMs: number;
}

export interface Delivery {
  /** Settles once the whole request was handed to the connection, or could not be. */
  written: Promise<boolean>;
  /** Settles with the outcome once the response was read, or the attempt failed. */
  result: Promise<DeliveryResult>;
}

type Attempt = Omit<DeliveryResult, 'durationMs' | 'written' | 'connection'>;

/**
 * One XML-RPC POST per call, made with node:http directly: got cost about
 * twice the CPU of a bare `http.request` per delivery (its options, stream
 * and hook machinery run per request), and `npm run bench` prints that cost
 * beside this sender. Each request has a fresh connection (`Connection:
 * close`, as OpenSIPS) unless its subscriber keeps connections alive.
 *
 * Nothing the server sends is trusted: the headers are bounded by
 * MAX_RESPONSE_HEADER_BYTES, the body is read up to `maxResponseBytes`, then
 * the connection is dropped, and every string in the result is cut to
 * MAX_TEXT. One timer per attempt bounds each phase: resolving and connecting
 * (TLS handshake included) by the connect timeout, then the upload, the wait
 * for the response head and the reading of the body by the response timeout
 * each.
 */
export class HttpSender {
  private readonly egress: EgressGuard;
  /**
   * A request with `Connection: close` makes its own connection, without an
   * http.Agent, whose pooling would be pure cost for a socket never reused.
   * No TLS session is cached: each connection verifies the server's
   * certificate anew. The egress guard watches every socket to a name from
   * its first moment.
   */
  private readonly connectPlain: Connect;
  private readonly connectTls: Connect;
  /**
   * Kept-alive connections, pooled by Node per server: host, port and, for
   * TLS, every setting that could make the connection differ (CA, client
   * certificate, server name). Subscribers to one server with the same TLS
   * settings share its idle connections; a request holds its socket alone
   * until its response is read whole, and any other ending destroys it.
   */
  private keptPlain: http.Agent;
  private keptTls: https.Agent;
  /** Requests not settled yet: close() ends them. */
  private readonly inFlight = new Set<http.ClientRequest>();

  constructor(private readonly options: SenderOptions) {
    this.egress = options.egress ?? new EgressGuard(EgressPolicy.fromFlags([], []));
    // An IP literal was judged by checkLiteral and is connected to as it is: only a name needs its connected address checked.
    const watch = (socket: net.Socket, host: string) => {
      if (net.isIP(host) === 0) this.egress.watch(socket, host);
      return socket;
    };
    this.connectPlain = (opts) => watch(net.createConnection(opts as net.NetConnectOpts), opts.host ?? '');
    this.connectTls = (opts) => watch(tls.connect(opts as tls.ConnectionOptions), opts.host ?? '');
    [this.keptPlain, this.keptTls] = this.keepAliveAgents();
  }

  private keepAliveAgents(): [http.Agent, https.Agent] {
    const options = { keepAlive: true, timeout: this.options.keepAliveIdleMs ?? KEEP_ALIVE_IDLE_MS, maxFreeSockets: this.options.maxIdlePerServer ?? 16, scheduling: 'lifo' } as const;
    const plain = new http.Agent(options);
    plain.createConnection = this.connectPlain;
    const secure = new https.Agent(options);
    secure.createConnection = this.connectTls;
    return [plain, secure];
  }

  /** One attempt; `responseTimeoutMs` overrides the sender's for this request. */
  send(target: DeliveryTarget, body: string, responseTimeoutMs = this.options.responseTimeoutMs, connection: ConnectionSettings = {}): Delivery {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const timeoutMs = clampTimerMs(responseTimeoutMs);
    const connectTimeoutMs = clampTimerMs(this.options.connectTimeoutMs);
    const { maxResponseBytes } = this.options;
    const hostname = target.host.startsWith('[') ? target.host.slice(1, -1) : target.host;
    const address = `${target.host}:${target.port}`;

    // net calls no lookup for an IP literal: the policy judges it here, before any socket exists.
    const deniedLiteral = this.egress.checkLiteral(hostname);
    if (deniedLiteral) {
      return {
        written: Promise.resolve(false),
        result: Promise.resolve({ outcome: 'Failed', written: false, error: truncate(deniedLiteral.message), reason: DeliveryReason.EgressDenied, durationMs: elapsed() }),
      };
    }

    // Exactly the headers of the core, in their order and spelling, then the subscriber's.
    const keepAlive = connection.keepAlive === true;
    const headers = [...requestHeaders(target, this.options.userAgent, body, keepAlive), ...(connection.headers ?? [])].flat();
    const common = { host: hostname, port: target.port, path: target.path, method: 'POST', headers, lookup: this.egress.lookup, maxHeaderSize: MAX_RESPONSE_HEADER_BYTES };
    const secure = connection.tls;
    // SNI: the configured name, else the host unless it is an IP literal (which SNI may not carry).
    const servername = secure?.servername ?? (net.isIP(hostname) ? undefined : hostname);
    const request = secure
      ? https.request({
          ...common,
          ...(keepAlive ? { agent: this.keptTls } : { createConnection: this.connectTls }),
          ca: secure.ca,
          cert: secure.cert,
          key: secure.key,
          rejectUnauthorized: secure.rejectUnauthorized,
          ...(servername ? { servername } : {}),
        })
      : http.request({ ...common, ...(keepAlive ? { agent: this.keptPlain } : { createConnection: this.connectPlain }) });
    this.inFlight.add(request);

    let isWritten: boolean | undefined;
    let markWritten!: (written: boolean) => void;
    const written = new Promise<boolean>((resolve) => (markWritten = resolve));
    const setWritten = (value: boolean) => {
      if (isWritten !== undefined) return;
      isWritten = value;
      markWritten(value);
    };

    const result = new Promise<DeliveryResult>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      let answered = false;
      let via: DeliveryResult['connection'];
      const settle = (attempt: Attempt) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        setWritten(false);
        resolve(via ? { ...attempt, written: isWritten!, connection: via, durationMs: elapsed() } : { ...attempt, written: isWritten!, durationMs: elapsed() });
        // Nothing more is read: the connection goes (a no-op once the response ended, which hands a kept-alive socket back to its pool).
        this.inFlight.delete(request);
        request.destroy();
      };
      const fail = (error: string, reason?: DeliveryReason) => settle(reason ? { outcome: 'Failed', error: truncate(error), reason } : { outcome: 'Failed', error: truncate(error) });
      const phase = (ms: number, error: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(error), ms);
      };

      phase(connectTimeoutMs, `connect timed out after ${this.options.connectTimeoutMs}ms`);
      const noResponse = `no response within ${timeoutMs}ms`;
      request.once('socket', (socket: net.Socket) => {
        const connected = () => {
          via = request.reusedSocket ? 'reused' : 'new';
          phase(timeoutMs, noResponse);
        };
        // A kept-alive socket handed on by its pool is connected (and its handshake done) already.
        if (request.reusedSocket || (!socket.connecting && !secure)) connected();
        else socket.once(secure ? 'secureConnect' : 'connect', connected);
      });
      request.once('finish', () => {
        setWritten(true);
        if (!settled) phase(timeoutMs, noResponse);
      });
      // After a response its own events decide: the socket may close before 'end' is emitted.
      request.once('close', () => {
        setWritten(false);
        if (!answered) fail(`connection closed by ${address} before an answer`);
      });
      request.once('error', (err: NodeJS.ErrnoException) => {
        const { error, reason } = describe(err, address);
        fail(error, reason);
      });
      request.once('response', (response: http.IncomingMessage) => {
        answered = true;
        setWritten(true);
        const status = response.statusCode ?? 0;
        const head = judgeHead(
          {
            status,
            reason: response.statusMessage,
            contentEncoding: single(response.headers['content-encoding']),
            contentLength: single(response.headers['content-length']),
            retryAfter: single(response.headers['retry-after']),
          },
          Date.now(),
          maxResponseBytes,
        );
        if (head.kind === 'judged') return settle(head.verdict);
        phase(timeoutMs, noResponse);
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxResponseBytes) settle(bodyTooLarge(status, maxResponseBytes));
          else chunks.push(chunk);
        });
        response.once('end', () => settle(judgeBody(status, Buffer.concat(chunks, size))));
        response.once('error', (err: NodeJS.ErrnoException) => fail(describe(err, address).error));
        response.once('close', () => {
          if (!response.complete) fail(`connection closed by ${address} before the whole response`);
        });
      });
      request.end(body);
    });
    return { written, result };
  }

  /** Ends every request still on the wire: each fails, and nothing more of it is sent or read; idle kept-alive connections close. */
  close(): void {
    for (const request of this.inFlight) request.destroy(new Error('the operator is stopping'));
    this.inFlight.clear();
    this.keptPlain.destroy();
    this.keptTls.destroy();
    [this.keptPlain, this.keptTls] = this.keepAliveAgents();
  }
}

/** The request's options reach it whole: host, port, lookup, and the TLS settings of https.request. */
type Connect = (options: http.ClientRequestArgs) => net.Socket;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);
const REFUSED_HANDSHAKE = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
]);

function describe(err: NodeJS.ErrnoException, host: string): { error: string; reason?: DeliveryReason } {
  const code = err.code;
  if (code === EGRESS_DENIED_CODE) return { error: err.message, reason: DeliveryReason.EgressDenied };
  const tls = code === undefined ? undefined : describeTls(code, host, err.message);
  if (tls) return { error: tls, reason: DeliveryReason.TLSFailed };
  switch (code) {
    case 'ECONNREFUSED':
      return { error: `connection refused by ${host}` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { error: `host ${host.slice(0, host.lastIndexOf(':'))} does not resolve (${code})` };
    case 'ECONNRESET':
      return { error: `connection reset by ${host}` };
    case 'HPE_HEADER_OVERFLOW':
      return { error: `response headers over ${MAX_RESPONSE_HEADER_BYTES} bytes from ${host}` };
    default:
      return { error: code?.startsWith('HPE_') ? `malformed HTTP response from ${host} (${code})` : err.message };
  }
}

/** What a failed TLS handshake means and what to do; undefined for an error that is not about TLS. */
function describeTls(code: string, host: string, message: string): string | undefined {
  if (UNTRUSTED.has(code)) {
    return `the certificate of ${host} is not signed by a CA the operator trusts (${code}): put the server's CA in the ca.crt key of the Secret named by spec.tls.caSecretRef`;
  }
  if (code === 'CERT_HAS_EXPIRED') return `the certificate of ${host} has expired (${code}): the server must renew it`;
  if (code === 'CERT_NOT_YET_VALID') return `the certificate of ${host} is not valid yet (${code}): check the server's certificate and clocks`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the certificate of ${host} is not valid for the name the operator checks (${message}): set spec.tls.serverName to a name the certificate holds, or fix the certificate`;
  }
  if (REFUSED_HANDSHAKE.has(code)) {
    return `${host} refused the TLS handshake (${code}): it requires a client certificate it trusts; set spec.tls.clientCertSecretRef to a Secret with tls.crt and tls.key`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return `${host} did not answer TLS (${code}): it serves plain HTTP there; drop spec.tls or use its HTTPS port`;
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('CERT_') || code.startsWith('ERR_OSSL_')) {
    return `TLS with ${host} failed (${code}): ${message}`;
  }
  return undefined;
}
