import dns from 'node:dns';
import type net from 'node:net';
import { EgressPolicy, egressDeniedMessage, type EgressDenial } from '../core/egress-policy.js';
import { parseIp } from '../core/ip-address.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address of a name, as the system resolver gives them (getaddrinfo). */
export type LookupAll = (host: string, family?: number) => Promise<ResolvedAddress[]>;

export const systemLookup: LookupAll = (host, family) =>
  dns.promises.lookup(host, { all: true, family: family === 4 || family === 6 ? family : 0, hints: dns.ADDRCONFIG });

/** The error code of a connection the egress policy refused; the request's error carries it. */
export const EGRESS_DENIED_CODE = 'EGRESS_DENIED';

export class EgressDeniedError extends Error {
  readonly code = EGRESS_DENIED_CODE;
  constructor(
    readonly host: string,
    readonly denials: readonly EgressDenial[],
  ) {
    super(egressDeniedMessage(host, denials));
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | ResolvedAddress[], family?: number) => void;

/**
 * Applies the egress policy where connections are made, so that no address
 * is checked at one time and connected to at another:
 *
 * - `lookup` replaces dns.lookup for the request: it resolves the name once,
 *   drops the denied addresses, and hands net only the allowed ones, so the
 *   addresses connected to are exactly those checked (DNS rebinding between a
 *   check and the connect has nothing to exploit);
 * - `checkLiteral` refuses a denied IP literal before any socket exists
 *   (net does not call `lookup` for an IP);
 * - `watch` checks, on every socket, the address it actually connected to,
 *   before anything is written to it (TLS's ClientHello included).
 */
export class EgressGuard {
  constructor(
    private policy: EgressPolicy,
    private readonly lookupAll: LookupAll = systemLookup,
  ) {}

  get current(): EgressPolicy {
    return this.policy;
  }

  /** Replaces the policy (the API server's addresses are added once resolved at start). */
  use(policy: EgressPolicy): void {
    this.policy = policy;
  }

  /** The addresses of a host (a name or an IP literal) split by the policy. */
  async resolve(host: string): Promise<{ allowed: ResolvedAddress[]; denied: EgressDenial[] }> {
    const literal = parseIp(host);
    const addresses = literal ? [{ address: host.replace(/^\[|\]$/g, ''), family: literal.family }] : await this.lookupAll(host);
    return this.split(addresses);
  }

  /** An EgressDeniedError when `hostname` is an IP literal the policy denies. */
  checkLiteral(hostname: string): EgressDeniedError | undefined {
    const bare = hostname.replace(/^\[|\]$/g, '');
    if (!parseIp(bare)) return undefined;
    const verdict = this.policy.check(bare);
    return verdict.allowed ? undefined : new EgressDeniedError(hostname, [verdict.denial]);
  }

  /** net's `lookup` option: (hostname, options, callback), with options.all set by happy eyeballs. */
  readonly lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    this.lookupAll(hostname, typeof options.family === 'number' ? options.family : 0).then(
      (addresses) => {
        const { allowed, denied } = this.split(addresses);
        if (allowed.length === 0) {
          if (denied.length === 0) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '');
          return callback(new EgressDeniedError(hostname, denied), '');
        }
        if (options.all) callback(null, allowed);
        else callback(null, allowed[0]!.address, allowed[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  /**
   * Destroys the socket, before a byte is written, if the address it connected
   * to is denied. The listener goes first, ahead of TLS's and of the pending
   * writes of the request, which wait for the same 'connect' event.
   */
  watch(socket: net.Socket, host: string): void {
    socket.prependOnceListener('connect', () => {
      const remote = socket.remoteAddress ?? '';
      const verdict = this.policy.check(remote);
      if (!verdict.allowed) socket.destroy(new EgressDeniedError(host, [verdict.denial]));
    });
  }

  private split(addresses: readonly ResolvedAddress[]): { allowed: ResolvedAddress[]; denied: EgressDenial[] } {
    const allowed: ResolvedAddress[] = [];
    const denied: EgressDenial[] = [];
    for (const entry of addresses) {
      const verdict = this.policy.check(entry.address);
      if (verdict.allowed) allowed.push(entry);
      else denied.push(verdict.denial);
    }
    return { allowed, denied };
  }
}
