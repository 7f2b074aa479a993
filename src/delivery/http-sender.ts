import http from 'node:http';
import got, { RequestError, TimeoutError, type Response } from 'got';
import { requestHeaders } from '../core/http-request.js';
import { parseMethodResponse } from '../core/method-response.js';
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

  send(target: DeliveryTarget, body: string): Delivery {
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
        response: this.options.responseTimeoutMs,
        read: this.options.responseTimeoutMs,
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
        return { outcome: 'Failed' as const, written: false, error: describe(err, this.options), durationMs: elapsed() };
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
    return { outcome: 'Failed', httpStatus, error: `HTTP ${httpStatus}${response.statusMessage ? ` ${response.statusMessage}` : ''}` };
  }
  const parsed = parseMethodResponse(response.body);
  if (parsed.kind === 'fault') {
    const fault = parsed.faultCode === undefined ? {} : { faultCode: parsed.faultCode };
    return { outcome: 'Failed', httpStatus, ...fault, faultString: parsed.faultString };
  }
  return { outcome: 'Delivered', httpStatus };
}

function describe(err: unknown, options: SenderOptions): string {
  if (err instanceof TimeoutError) {
    return err.event === 'connect'
      ? `connect timed out after ${options.connectTimeoutMs}ms`
      : `no response within ${options.responseTimeoutMs}ms`;
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
