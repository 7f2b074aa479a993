import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import got, { RequestError, TimeoutError, type Got } from 'got';
import { DeliveryReason } from '../api/conditions.js';
import { EgressPolicy } from '../core/egress-policy.js';
import { requestHeaders, type HeaderLines } from '../core/http-request.js';
import { bodyTooLarge, judgeBody, judgeHead, type ResponseVerdict } from '../core/http-response.js';
import type { DeliveryTarget } from '../core/socket.js';
import { truncate } from '../core/text.js';
import { clampTimerMs } from '../core/timer.js';
import { EGRESS_DENIED_CODE, EgressGuard } from './egress-guard.js';

/** Status line and headers of a response, at most; Node's default, set per request so no global option raises it. */
export const MAX_RESPONSE_HEADER_BYTES = 16 * 1024;
/** Prepared got instances kept, one per distinct response timeout. */
const MAX_CLIENTS = 64;

export interface SenderOptions {
  userAgent: string;
  connectTimeoutMs: number;
  /** From the end of the upload to the response headers, and again from them to the end of the body. */
  responseTimeoutMs: number;
  /** Body bytes read at most; past them the connection is closed. */
  maxResponseBytes: number;
  /** Where connections may go; default: the default denials only. */
  egress?: EgressGuard;
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
  durationMs: number;
}

export interface Delivery {
  /** Settles once the whole request was handed to the connection, or could not be. */
  written: Promise<boolean>;
  /** Settles with the outcome once the response was read, or the attempt failed. */
  result: Promise<DeliveryResult>;
}

type Attempt = Omit<DeliveryResult, 'durationMs' | 'written'>;

/**
 * One XML-RPC POST per call on a fresh connection (`Connection: close`, as
 * OpenSIPS). Nothing the server sends is trusted: the headers are bounded by
 * MAX_RESPONSE_HEADER_BYTES, the body is streamed and read up to
 * `maxResponseBytes`, then the connection is dropped, and every string in the
 * result is cut to MAX_TEXT.
 */
export class HttpSender {
  private readonly egress: EgressGuard;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  /** got with every option that is the same for all requests, normalized once (per response timeout). */
  private readonly clients = new Map<number, Got>();
  private readonly base: Got;

  constructor(private readonly options: SenderOptions) {
    this.egress = options.egress ?? new EgressGuard(EgressPolicy.fromFlags([], []));
    const watch = (socket: net.Socket, opts: { host?: string | null }) => this.egress.watch(socket, opts.host ?? '');
    this.httpAgent = new GuardedHttpAgent(watch);
    this.httpsAgent = new GuardedHttpsAgent(watch);
    this.base = got.extend({
      maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      decompress: false,
    });
  }

  /**
   * The prepared instance for a response timeout: a request then only adds
   * its URL, body and request function. Timeouts come from the flags and from
   * each Subscriber's spec, so there are few; past MAX_CLIENTS the oldest goes.
   */
  private client(responseTimeoutMs: number): Got {
    let client = this.clients.get(responseTimeoutMs);
    if (!client) {
      if (this.clients.size >= MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value!);
      client = this.base.extend({
        timeout: { connect: clampTimerMs(this.options.connectTimeoutMs), response: responseTimeoutMs, read: responseTimeoutMs },
      });
      this.clients.set(responseTimeoutMs, client);
    }
    return client;
  }

  /** One attempt; `responseTimeoutMs` overrides the sender's for this request. */
  send(target: DeliveryTarget, body: string, responseTimeoutMs = this.options.responseTimeoutMs, connection: ConnectionSettings = {}): Delivery {
    const started = performance.now();
    let markWritten!: (written: boolean) => void;
    const written = new Promise<boolean>((resolve) => (markWritten = resolve));
    const elapsed = () => Math.round(performance.now() - started);
    const timeoutMs = clampTimerMs(responseTimeoutMs);
    const { maxResponseBytes } = this.options;
    const url = new URL(target.url);
    if (connection.tls) url.protocol = 'https:';

    // net calls no lookup for an IP literal: the policy judges it here, before any socket exists.
    const deniedLiteral = this.egress.checkLiteral(url.hostname);
    if (deniedLiteral) {
      markWritten(false);
      return { written, result: Promise.resolve({ outcome: 'Failed', written: false, error: truncate(deniedLiteral.message), reason: DeliveryReason.EgressDenied, durationMs: elapsed() }) };
    }

    // got would lower-case header names and order them its own way: the request
    // function sends exactly the headers of the core, in their order, then the subscriber's.
    const lines = [...requestHeaders(target, this.options.userAgent, body), ...(connection.headers ?? [])];
    const headers = Object.fromEntries(lines);
    const tls = connection.tls;
    const secure = tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername, rejectUnauthorized: tls.rejectUnauthorized } : {};
    // The stream form hands the body over chunk by chunk instead of buffering all of it.
    const stream = this.client(timeoutMs).stream.post(url, {
      body,
      request: (u, opts, callback) =>
        tls
          ? https.request(u, { ...opts, ...secure, headers, agent: this.httpsAgent, lookup: this.egress.lookup }, callback)
          : http.request(u, { ...opts, headers, agent: this.httpAgent, lookup: this.egress.lookup }, callback),
    });
    stream.on('request', (req: http.ClientRequest) => {
      req.once('finish', () => markWritten(true));
      req.once('close', () => markWritten(false));
    });

    const attempt = new Promise<Attempt>((resolve) => {
      let settled = false;
      const settle = (result: Attempt) => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      const stop = (verdict: ResponseVerdict) => {
        settle(verdict);
        stream.destroy();
      };
      stream.once('error', (err: unknown) => {
        markWritten(false);
        const { error, reason } = describe(err, url.host, this.options.connectTimeoutMs, timeoutMs);
        settle(reason ? { outcome: 'Failed', error: truncate(error), reason } : { outcome: 'Failed', error: truncate(error) });
      });
      stream.once('response', (response: http.IncomingMessage) => {
        markWritten(true);
        const head = judgeHead(
          {
            status: response.statusCode ?? 0,
            reason: response.statusMessage,
            contentEncoding: single(response.headers['content-encoding']),
            contentLength: single(response.headers['content-length']),
            retryAfter: single(response.headers['retry-after']),
          },
          Date.now(),
          maxResponseBytes,
        );
        if (head.kind === 'judged') return stop(head.verdict);
        const status = response.statusCode!;
        const chunks: Buffer[] = [];
        let size = 0;
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxResponseBytes) stop(bodyTooLarge(status, maxResponseBytes));
          else chunks.push(chunk);
        });
        stream.once('end', () => settle(judgeBody(status, Buffer.concat(chunks, size))));
      });
    });
    // The written flag of a failure depends on whether 'finish' fired first.
    return {
      written,
      result: Promise.all([written, attempt]).then(([w, r]) => ({ ...r, written: w, durationMs: elapsed() })),
    };
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

type Watch = (socket: net.Socket, options: { host?: string | null }) => void;

/** A fresh connection per request, each watched by the egress guard from its first moment. */
class GuardedHttpAgent extends http.Agent {
  constructor(private readonly watch: Watch) {
    super({ keepAlive: false });
  }

  override createConnection(options: net.NetConnectOpts & { host?: string }, callback?: (err: Error | null, socket: net.Socket) => void): net.Socket {
    const socket = (http.Agent.prototype as unknown as AgentInternals).createConnection.call(this, options, callback);
    this.watch(socket, options);
    return socket;
  }
}

/** The same for HTTPS; no TLS session is cached, so each connection verifies the server's certificate anew. */
class GuardedHttpsAgent extends https.Agent {
  constructor(private readonly watch: Watch) {
    super({ keepAlive: false, maxCachedSessions: 0 });
  }

  override createConnection(options: net.NetConnectOpts & { host?: string }, callback?: (err: Error | null, socket: net.Socket) => void): net.Socket {
    const socket = (https.Agent.prototype as unknown as AgentInternals).createConnection.call(this, options, callback);
    this.watch(socket, options);
    return socket;
  }
}

interface AgentInternals {
  createConnection(this: http.Agent, options: object, callback?: (err: Error | null, socket: net.Socket) => void): net.Socket;
}

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

function describe(err: unknown, host: string, connectTimeoutMs: number, responseTimeoutMs: number): { error: string; reason?: DeliveryReason } {
  if (err instanceof TimeoutError) {
    return { error: err.event === 'connect' ? `connect timed out after ${connectTimeoutMs}ms` : `no response within ${responseTimeoutMs}ms` };
  }
  const code = (err as { code?: string } | undefined)?.code;
  if (code === EGRESS_DENIED_CODE) return { error: (err as Error).message, reason: DeliveryReason.EgressDenied };
  const tls = code === undefined ? undefined : describeTls(code, host, (err as Error).message);
  if (tls) return { error: tls, reason: DeliveryReason.TLSFailed };
  if (err instanceof RequestError) {
    switch (err.code) {
      case 'ECONNREFUSED':
        return { error: `connection refused by ${hostOf(err)}` };
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return { error: `host ${hostOf(err)} does not resolve (${err.code})` };
      case 'ECONNRESET':
        return { error: `connection reset by ${hostOf(err)}` };
      case 'HPE_HEADER_OVERFLOW':
        return { error: `response headers over ${MAX_RESPONSE_HEADER_BYTES} bytes from ${hostOf(err)}` };
      default:
        return { error: err.code?.startsWith('HPE_') ? `malformed HTTP response from ${hostOf(err)} (${err.code})` : err.message };
    }
  }
  return { error: err instanceof Error ? err.message : String(err) };
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

function hostOf(err: RequestError): string {
  const url = err.options?.url;
  return url instanceof URL ? url.host : String(url ?? 'server');
}
