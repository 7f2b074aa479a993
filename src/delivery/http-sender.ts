import http from 'node:http';
import got, { RequestError, TimeoutError } from 'got';
import { requestHeaders } from '../core/http-request.js';
import { bodyTooLarge, judgeBody, judgeHead, type ResponseVerdict } from '../core/http-response.js';
import type { DeliveryTarget } from '../core/socket.js';
import { truncate } from '../core/text.js';
import { clampTimerMs } from '../core/timer.js';

/** Status line and headers of a response, at most; Node's default, set per request so no global option raises it. */
export const MAX_RESPONSE_HEADER_BYTES = 16 * 1024;

export interface SenderOptions {
  userAgent: string;
  connectTimeoutMs: number;
  /** From the end of the upload to the response headers, and again from them to the end of the body. */
  responseTimeoutMs: number;
  /** Body bytes read at most; past them the connection is closed. */
  maxResponseBytes: number;
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
  private readonly agent = new http.Agent({ keepAlive: false });

  constructor(private readonly options: SenderOptions) {}

  /** One attempt; `responseTimeoutMs` overrides the sender's for this request. */
  send(target: DeliveryTarget, body: string, responseTimeoutMs = this.options.responseTimeoutMs): Delivery {
    const started = performance.now();
    let markWritten!: (written: boolean) => void;
    const written = new Promise<boolean>((resolve) => (markWritten = resolve));
    const elapsed = () => Math.round(performance.now() - started);
    const timeoutMs = clampTimerMs(responseTimeoutMs);
    const { maxResponseBytes } = this.options;

    // got lower-cases header names and orders them its own way; the request
    // function puts back exactly the headers of the core, in their order.
    const headers = Object.fromEntries(requestHeaders(target, this.options.userAgent, body));
    // The stream form hands the body over chunk by chunk instead of buffering all of it.
    const stream = got.stream.post(target.url, {
      body,
      headers,
      agent: { http: this.agent },
      request: (url, opts, callback) => http.request(url, { ...opts, headers }, callback),
      maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
      timeout: { connect: clampTimerMs(this.options.connectTimeoutMs), response: timeoutMs, read: timeoutMs },
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      decompress: false,
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
        settle({ outcome: 'Failed', error: truncate(describe(err, this.options.connectTimeoutMs, timeoutMs)) });
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
    this.agent.destroy();
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function describe(err: unknown, connectTimeoutMs: number, responseTimeoutMs: number): string {
  if (err instanceof TimeoutError) {
    return err.event === 'connect' ? `connect timed out after ${connectTimeoutMs}ms` : `no response within ${responseTimeoutMs}ms`;
  }
  if (err instanceof RequestError) {
    switch (err.code) {
      case 'ECONNREFUSED':
        return `connection refused by ${hostOf(err)}`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `host ${hostOf(err)} does not resolve (${err.code})`;
      case 'ECONNRESET':
        return `connection reset by ${hostOf(err)}`;
      case 'HPE_HEADER_OVERFLOW':
        return `response headers over ${MAX_RESPONSE_HEADER_BYTES} bytes from ${hostOf(err)}`;
      default:
        return err.code?.startsWith('HPE_') ? `malformed HTTP response from ${hostOf(err)} (${err.code})` : err.message;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

function hostOf(err: RequestError): string {
  const url = err.options?.url;
  return url instanceof URL ? url.host : String(url ?? 'server');
}
