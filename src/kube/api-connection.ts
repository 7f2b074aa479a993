import type { RequestOptions } from 'node:https';
import { HttpMethod, KubeConfig, RequestContext, bufferFromFileOrString, type Cluster, type User } from '@kubernetes/client-node';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import { VERSION } from '../version.js';

/** An answer of the apiserver other than 2xx; `code` and `body` as errors.ts reads them. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: number,
    readonly body: unknown,
    method: string,
    path: string,
  ) {
    super(`HTTP-Code: ${code}\nMessage: ${method} ${path.split('?')[0]}: ${(body as { message?: string } | undefined)?.message ?? ''}`);
  }
}

export interface WatchOptions {
  /** Ends the watch; the promise then resolves. */
  signal: AbortSignal;
  /** A watch that received nothing (not even a bookmark) for this long fails with a TimeoutError. */
  silenceMs: number;
}

/** A request that gave up waiting makes the connection prove within this time that it still answers. */
export const PROBE_TIMEOUT_MS = 2_000;
/** User-Agent of the calls made through request() and watch(). */
const USER_AGENT = `event-xmlrpc-operator/${VERSION}`;
/** HTTP/2 PING period; a PING still unanswered at the next one drops the connection. */
const PING_INTERVAL_MS = 15_000;
/** How long close() lets requests in flight finish before it cuts them. */
const CLOSE_GRACE_MS = 2_000;

/**
 * A KubeConfig whose API clients and watches share one pool of keep-alive
 * connections to the apiserver: in practice one HTTP/2 connection (the
 * apiserver offers h2 in ALPN) that carries every request and every watch.
 * client-node, left alone, builds a new connection pool for every request,
 * so that each call pays a TLS handshake and reads the CA file again.
 *
 * What is read once: the kubeconfig's CA, client certificate and key (files
 * are read when this object is made, so a rotated client certificate file
 * needs a restart). What is still asked for per request, through
 * client-node's authenticators: the bearer token, so that a rotating
 * projected service-account token file (read again every 60 s) and exec
 * plugins (run again once their credential expires; a client certificate
 * they hand out gets a fresh pool) keep working.
 *
 * A dead connection (a NAT entry dropped, a frozen peer) is found two ways:
 * an unanswered HTTP/2 PING, and any request that times out (a silent
 * watch, a lease renewal past its deadline), which makes the pool
 * answer a GET /version within PROBE_TIMEOUT_MS or be replaced; the
 * requests stuck on it then fail and are retried on a fresh connection.
 *
 * Besides client-node's clients, it makes the hot calls itself (request(),
 * watch()) on the same pool. A kubeconfig with a SOCKS proxy keeps
 * client-node's own per-request pools.
 */
export class SharedConnectionConfig extends KubeConfig {
  #pool: Agent | ProxyAgent | undefined;
  #dispatcher: Dispatcher | undefined;
  /** The client certificate and key the pool was made with (exec plugins may hand out new ones). */
  #clientCert = '';
  #probe: Promise<boolean> | undefined;
  #closed = false;
  /** Connections opened so far (TLS or TCP sockets to the apiserver or its proxy). */
  connectionsOpened = 0;
  /** Pools dropped because their connection did not answer. */
  connectionsReplaced = 0;

  constructor(source: KubeConfig) {
    super();
    this.loadFromOptions({
      clusters: source.getClusters().map(inlineClusterFiles),
      users: source.getUsers().map(inlineUserFiles),
      contexts: source.getContexts(),
      currentContext: source.getCurrentContext(),
    });
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const { dispatcher, headers } = await this.connection();
    for (const [name, value] of Object.entries(headers)) context.setHeaderParam(name, value);
    context.setDispatcher(dispatcher);
  }

  /**
   * One API call, JSON in and out, on the shared connection: what the hot
   * path uses instead of client-node's generated clients, which spend more
   * CPU on their fetch, streams and serializer than the call itself costs.
   */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const { dispatcher, headers } = await this.connection();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let statusCode: number;
    let text: string;
    try {
      const response = await dispatcher.request({
        origin: this.origin,
        path: this.pathPrefix + path,
        method: method as Dispatcher.HttpMethod,
        headers: { ...headers, accept: 'application/json', 'user-agent': USER_AGENT, ...(payload !== undefined && { 'content-type': 'application/json' }) },
        body: payload,
        signal,
      });
      statusCode = response.statusCode;
      text = await response.body.text();
    } catch (err) {
      throw signal?.aborted ? err : transportError(method, path, err);
    }
    const parsed: unknown = text ? parseJson(text) : undefined;
    if (statusCode < 200 || statusCode > 299) throw new ApiError(statusCode, parsed ?? text, method, path);
    return parsed as T;
  }

  /**
   * A watch on the shared connection: each event line is parsed and handed
   * to `onEvent` in order. Resolves when the apiserver ends it or `signal`
   * aborts; fails on an HTTP error (an ApiError) or a silent stream.
   */
  async watch(path: string, onEvent: (type: string, object: unknown) => void, options: WatchOptions): Promise<void> {
    const { dispatcher, headers } = await this.connection();
    const silence = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        silence.abort(new DOMException(`the watch sent nothing for ${options.silenceMs} ms`, 'TimeoutError'));
        // A silent stream is what a dead connection looks like.
        void this.verifyConnection();
      }, options.silenceMs);
      timer.unref();
    };
    const signal = AbortSignal.any([options.signal, silence.signal]);
    quiet();
    try {
      const response = await dispatcher.request({
        origin: this.origin,
        path: this.pathPrefix + path,
        method: 'GET',
        headers: { ...headers, accept: 'application/json', 'user-agent': USER_AGENT },
        signal,
      });
      if (response.statusCode !== 200) {
        const text = await response.body.text();
        throw new ApiError(response.statusCode, text ? parseJson(text) : text, 'GET', path);
      }
      // One event per line; the start of a line that spans chunks waits in `parts` (no copy per chunk).
      let parts: Buffer[] = [];
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        quiet();
        let start = 0;
        let newline: number;
        while ((newline = chunk.indexOf(10, start)) >= 0) {
          const piece = chunk.subarray(start, newline);
          const line = (parts.length ? Buffer.concat([...parts, piece]) : piece).toString('utf8');
          parts = [];
          start = newline + 1;
          const event = line.trim() ? (parseJson(line) as { type?: string; object?: unknown } | undefined) : undefined;
          if (event?.type) onEvent(event.type, event.object);
        }
        if (start < chunk.length) parts.push(chunk.subarray(start));
      }
    } catch (err) {
      if (silence.signal.aborted) throw silence.signal.reason;
      if (options.signal.aborted) return;
      throw err instanceof ApiError ? err : transportError('GET', path, err);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Whether the connection answers a GET /version within PROBE_TIMEOUT_MS;
   * if not, its pool is destroyed (what was in flight on it fails) and the
   * next request opens a new one. Concurrent calls share one probe.
   */
  verifyConnection(): Promise<boolean> {
    const pool = this.#dispatcher;
    if (!pool || this.#closed) return Promise.resolve(true);
    this.#probe ??= this.probe(pool).finally(() => (this.#probe = undefined));
    return this.#probe;
  }

  /** Lets requests in flight finish for a moment, then closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = this.#dispatcher = undefined;
    if (!pool) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS).unref()));
    await Promise.race([pool.close(), graceOver]);
    clearTimeout(timer);
    await pool.destroy();
  }

  /**
   * The pool for the next request, and its headers (Authorization,
   * Impersonate-User) as client-node computes them, with the TLS material
   * from memory. Through a SOCKS proxy: client-node's own pool, one per request.
   */
  private async connection(): Promise<{ dispatcher: Dispatcher; headers: Record<string, string> }> {
    if (this.getCurrentCluster()?.proxyUrl?.startsWith('socks')) {
      const context = new RequestContext(this.getCurrentCluster()!.server, HttpMethod.GET);
      await super.applySecurityAuthentication(context);
      return { dispatcher: context.getDispatcher()!, headers: context.getHeaders() };
    }
    const opts: RequestOptions = {};
    await this.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    if (opts.auth) headers['Authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name] = String(value);
    return { dispatcher: this.dispatcher(opts), headers };
  }

  private dispatcher(opts: RequestOptions): Dispatcher {
    const clientCert = `${String(opts.cert ?? '')}\n${String(opts.key ?? '')}`;
    if (this.#dispatcher && this.#clientCert === clientCert) return this.#dispatcher;
    const previous = this.#pool;
    this.#clientCert = clientCert;
    this.#pool = this.makePool(opts);
    this.#dispatcher = this.#pool.compose((dispatch) => (options, handler) => dispatch(options, this.watching(handler)));
    // A pool replaced for a new client certificate finishes what it carries.
    if (previous) void previous.close();
    return this.#dispatcher;
  }

  private makePool(opts: RequestOptions): Agent | ProxyAgent {
    const tls = {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      ...(opts.rejectUnauthorized !== undefined && { rejectUnauthorized: opts.rejectUnauthorized }),
      ...(opts.servername !== undefined && { servername: opts.servername }),
    } as Parameters<KubeConfig['createDispatcherOptions']>[1];
    const options = this.createDispatcherOptions(this.getCurrentCluster(), tls);
    const h2Options = { pingInterval: PING_INTERVAL_MS };
    const counted = (pool: Agent | ProxyAgent) => pool.on('connect', () => this.connectionsOpened++);
    switch (options.type) {
      case 'proxy':
        return counted(new ProxyAgent({ uri: options.uri, requestTls: options.requestTls, connect: options.connect, allowH2: true, h2Options }));
      case 'agent':
        return counted(new Agent({ connect: options.connect, allowH2: true, h2Options }));
      default:
        // No TLS settings of its own (system CAs), or plain http:// (keep-alive HTTP/1.1 then).
        return counted(new Agent({ connect: { keepAlive: true, keepAliveInitialDelay: 30_000 }, allowH2: true, h2Options }));
    }
  }

  /** The request's handler, told to verify the connection when the request times out. */
  private watching(handler: Dispatcher.DispatchHandler): Dispatcher.DispatchHandler {
    return {
      onRequestStart: (controller, context) => handler.onRequestStart?.(controller, context),
      onRequestUpgrade: (controller, statusCode, headers, socket) => handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
      onResponseStart: (controller, statusCode, headers, statusMessage) => handler.onResponseStart?.(controller, statusCode, headers, statusMessage),
      onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
      onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
      onResponseError: (controller, error) => {
        if (gaveUpWaiting(error)) void this.verifyConnection();
        handler.onResponseError?.(controller, error);
      },
    };
  }

  #server: URL | undefined;

  private get origin(): string {
    this.#server ??= new URL(this.getCurrentCluster()!.server);
    return this.#server.origin;
  }

  /** The path of the server URL (a proxy in front of the apiserver may serve it under one), without a trailing slash. */
  private get pathPrefix(): string {
    this.#server ??= new URL(this.getCurrentCluster()!.server);
    return this.#server.pathname.replace(/\/$/, '');
  }

  private async probe(dispatcher: Dispatcher): Promise<boolean> {
    const server = new URL(this.getCurrentCluster()!.server);
    try {
      // Any HTTP answer proves the connection alive, but it must carry credentials: the apiserver
      // closes an HTTP/2 connection after answering an anonymous request (UnauthenticatedHTTP2DOSMitigation).
      const { headers } = await this.connection();
      const response = await dispatcher.request({
        origin: server.origin,
        path: `${this.pathPrefix}/version`,
        method: 'GET',
        headers,
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      });
      await response.body.dump();
      return true;
    } catch {
      if (this.#dispatcher === dispatcher && !this.#closed) {
        const pool = this.#pool!;
        this.#pool = this.#dispatcher = undefined;
        this.connectionsReplaced++;
        void pool.destroy(new Error(`the connection to ${server.origin} did not answer within ${PROBE_TIMEOUT_MS} ms`));
      }
      return false;
    }
  }
}

/** A call that got no HTTP answer, with the cause errors.ts explains (refused, TLS, reset). */
function transportError(method: string, path: string, cause: unknown): Error {
  return new Error(`${method} ${path.split('?')[0]} failed`, { cause });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A timeout (AbortSignal.timeout, a watch's silence, undici's own), not an abort on purpose (a watch stopped). */
function gaveUpWaiting(error: Error): boolean {
  const { name, code } = error as Error & { code?: string };
  return name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

/** The cluster with its CA file read into caData. */
function inlineClusterFiles(cluster: Cluster): Cluster {
  if (!cluster.caFile) return cluster;
  const { caFile, ...rest } = cluster;
  return { ...rest, caData: bufferFromFileOrString(caFile)!.toString('base64') };
}

/** The user with its client certificate and key files read into certData and keyData. */
function inlineUserFiles(user: User): User {
  const { certFile, keyFile, ...rest } = user;
  return {
    ...rest,
    ...(certFile && { certData: bufferFromFileOrString(certFile)!.toString('base64') }),
    ...(keyFile && { keyData: bufferFromFileOrString(keyFile)!.toString('base64') }),
  };
}
