import type { RequestOptions } from 'node:https';
import { KubeConfig, bufferFromFileOrString, type Cluster, type RequestContext, type User } from '@kubernetes/client-node';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';

/** A request that gave up waiting makes the connection prove within this time that it still answers. */
export const PROBE_TIMEOUT_MS = 2_000;
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
 * A kubeconfig with a SOCKS proxy keeps client-node's own per-request pools.
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
    if (this.getCurrentCluster()?.proxyUrl?.startsWith('socks')) return super.applySecurityAuthentication(context);
    const { opts, headers } = await this.credentials();
    for (const [name, value] of Object.entries(headers)) context.setHeaderParam(name, value);
    context.setDispatcher(this.dispatcher(opts));
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

  /** The request headers (Authorization, Impersonate-User) and TLS options as client-node computes them, from memory. */
  private async credentials(): Promise<{ opts: RequestOptions; headers: Record<string, string> }> {
    const opts: RequestOptions = {};
    await this.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    if (opts.auth) headers['Authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name] = String(value);
    return { opts, headers };
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

  private async probe(dispatcher: Dispatcher): Promise<boolean> {
    const server = new URL(this.getCurrentCluster()!.server);
    try {
      // Any HTTP answer proves the connection alive, but it must carry credentials: the apiserver
      // closes an HTTP/2 connection after answering an anonymous request (UnauthenticatedHTTP2DOSMitigation).
      const { headers } = await this.credentials();
      const response = await dispatcher.request({
        origin: server.origin,
        path: `${server.pathname.replace(/\/$/, '')}/version`,
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
