import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { HostCheck } from '../core/subscriber-status.js';

export type ResolveHost = (host: string) => Promise<HostCheck>;

const LOOKUP_TIMEOUT_MS = 5_000;

/**
 * Asks the system resolver whether a name exists. Only a definite "no such
 * name" counts against a Subscriber; a slow or failing resolver says nothing.
 */
export const resolveHost: ResolveHost = async (host) => {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(bare)) return { kind: 'resolved' };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HostCheck>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'unknown' }), LOOKUP_TIMEOUT_MS);
  });
  const answer = lookup(bare).then(
    (): HostCheck => ({ kind: 'resolved' }),
    (err: NodeJS.ErrnoException): HostCheck =>
      err.code === 'ENOTFOUND' ? { kind: 'notFound', detail: err.code } : { kind: 'unknown' },
  );
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
};
