// A plain TCP proxy on 127.0.0.1 for fault injection between a client and a
// server (e.g. the operator and the kube-apiserver; TLS passes through
// untouched, so a certificate valid for 127.0.0.1 still matches).
//
// freeze() turns every connection open at that moment into a silent one: the
// proxy stops forwarding bytes in both directions but closes nothing, as a
// dead NAT entry or a partitioned network would. Connections accepted later
// are forwarded normally. Every connection is stamped (Date.now()) when it
// was accepted, last carried bytes to its client, was frozen and was closed
// by its client, so that a test can order these moments with the ones its
// other peers stamp.
import net from 'node:net';

/** One connection through the proxy, as the proxy saw it. */
export interface ProxiedConnection {
  acceptedAt: number;
  /** When bytes from the server last went through to the client. */
  lastToClientAt?: number;
  frozenAt?: number;
  /** When the client closed its end. */
  clientClosedAt?: number;
}

export interface TcpProxy {
  port: number;
  /** Every connection accepted so far, in order. */
  readonly connections: readonly ProxiedConnection[];
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now (client side not closed). */
  readonly open: number;
  /** Freezes every connection open now; returns how many. */
  freeze(): number;
  /** Frozen connections whose client has since given up on them (closed its end). */
  readonly frozenClosedByClient: number;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  frozen: boolean;
  clientClosed: boolean;
  stamps: ProxiedConnection;
}

/** Listens on `listenHost` (default 127.0.0.1) and forwards every connection to `target`. */
export async function startTcpProxy(target: { host: string; port: number }, listenHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  const connections: ProxiedConnection[] = [];
  let accepted = 0;
  let frozenClosedByClient = 0;

  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(target.port, target.host);
    const stamps: ProxiedConnection = { acceptedAt: Date.now() };
    connections.push(stamps);
    const pair: Pair = { client, upstream, frozen: false, clientClosed: false, stamps };
    pairs.add(pair);
    // While not frozen, bytes flow through; once frozen, whatever arrives is
    // read and held back, so neither side sees a byte or a close from the other.
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => {
        if (!pair.frozen) to.write(chunk);
      });
      from.on('end', () => {
        if (!pair.frozen) to.end();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    upstream.on('data', () => {
      if (!pair.frozen) stamps.lastToClientAt = Date.now();
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('close', () => {
      pair.clientClosed = true;
      stamps.clientClosedAt = Date.now();
      if (pair.frozen) frozenClosedByClient++;
      else upstream.destroy();
      if (!pair.frozen) pairs.delete(pair);
    });
    upstream.on('close', () => {
      if (!pair.frozen) {
        client.destroy();
        pairs.delete(pair);
      }
    });
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    connections,
    get accepted() {
      return accepted;
    },
    get open() {
      return [...pairs].filter((p) => !p.clientClosed).length;
    },
    get frozenClosedByClient() {
      return frozenClosedByClient;
    },
    freeze() {
      let n = 0;
      for (const pair of pairs) {
        if (pair.frozen || pair.clientClosed) continue;
        pair.frozen = true;
        pair.stamps.frozenAt = Date.now();
        n++;
      }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const { client, upstream } of pairs) {
          client.destroy();
          upstream.destroy();
        }
        pairs.clear();
        server.close(() => resolve());
      }),
  };
}
