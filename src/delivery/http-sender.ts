import http from 'node:http';
import got, { RequestError, TimeoutError, type Response } from 'got';
import { requestHeaders } from '../core/http-request.js';
import { parseMethodResponse } from '../core/method-response.js';
import { parseRetryAfter } from '../core/retry-policy.js';
import type { DeliveryTarget } from '../core/socket.js';

export interface SenderOptions {
  userAgent: string;
  connectTimeoutMs: number;
  /** From the end of the upload to the end of the response. */
  responseTimeoutMs: number;
}

export interface DeliveryResult {
  outcome: 'Delivered' | 'Failed';
  /** The request reached the server's socket (OpenSIPS's notion of success). */
  written: boolean;
  httpStatus?: number;
  faultCode?: number;
  faultString?: string;
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

/** One XML-RPC POST per call on a fresh connection (`Connection: close`, as OpenSIPS). */
export class HttpSender {
  private readonly agent = new http.Agent({ keepAlive: false });

  constructor(private readonly options: SenderOptions) {}

  /** One attempt; `responseTimeoutMs` overrides the sender's for this request. */
  send(target: DeliveryTarget, body: string, responseTimeoutMs = this.options.responseTimeoutMs): Delivery {
    const started = performance.now();
    let markWritten!: (written: boolean) => void;
    const written = new Promise<boolean>((resolve) => (markWritten = resolve));
    const elapsed = () => Math.round(performance.now() - started);

    // got lower-cases header names and orders them its own way; the request
    // function puts back exactly the headers of the core, in their order.
    const headers = Object.fromEntries(requestHeaders(target, this.options.userAgent, body));
    const request = got.post(target.url, {
      body,
      headers,
      agent: { http: this.agent },
      request: (url, opts, callback) => http.request(url, { ...opts, headers }, callback),
      timeout: {
        connect: this.options.connectTimeoutMs,
        response: responseTimeoutMs,
        read: responseTimeoutMs,
      },
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      decompress: false,
    });
    request.on('request', (req: http.ClientRequest) => {
      req.once('finish', () => markWritten(true));
      req.once('close', () => markWritten(false));
    });

    const result = request.then(
      (response) => {
        markWritten(true);
        return { ...judge(response), written: true, durationMs: elapsed() };
      },
      (err: unknown) => {
        markWritten(false);
        return { outcome: 'Failed' as const, written: false, error: describe(err, this.options.connectTimeoutMs, responseTimeoutMs), durationMs: elapsed() };
      },
    );
    // The written flag of a failure depends on whether 'finish' fired first.
    return {
      written,
      result: Promise.all([written, result]).then(([w, r]) => ({ ...r, written: w })),
    };
  }

  close(): void {
    this.agent.destroy();
  }
}

function judge(response: Response<string>): Omit<DeliveryResult, 'durationMs' | 'written'> {
  const httpStatus = response.statusCode;
  if (httpStatus < 200 || httpStatus > 299) {
    const failed = { outcome: 'Failed' as const, httpStatus, error: `HTTP ${httpStatus}${response.statusMessage ? ` ${response.statusMessage}` : ''}` };
    const retryAfterMs = httpStatus === 429 || httpStatus === 503 ? parseRetryAfter(response.headers['retry-after'], Date.now()) : undefined;
    return retryAfterMs === undefined ? failed : { ...failed, retryAfterMs };
  }
  const parsed = parseMethodResponse(response.body);
  if (parsed.kind === 'fault') {
    const fault = parsed.faultCode === undefined ? {} : { faultCode: parsed.faultCode };
    return { outcome: 'Failed', httpStatus, ...fault, faultString: parsed.faultString };
  }
  return { outcome: 'Delivered', httpStatus };
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
      default:
        return err.message;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

function hostOf(err: RequestError): string {
  const url = err.options?.url;
  return url instanceof URL ? url.host : String(url ?? 'server');
}
