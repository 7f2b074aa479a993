import { egressDeniedMessage } from '../core/egress-policy.js';
import type { HostCheck } from '../core/subscriber-status.js';
import type { EgressGuard } from '../delivery/egress-guard.js';

export type ResolveHost = (host: string) => Promise<HostCheck>;

const LOOKUP_TIMEOUT_MS = 5_000;

/**
 * Asks the system resolver what a Subscriber's host resolves to, and the
 * egress policy which of those addresses may be connected to. Only a definite
 * "no such name" or "every address denied" counts against a Subscriber; a slow
 * or failing resolver says nothing. Deliveries check again at connect time:
 * this answer is for the Subscriber's status only.
 */
export function hostResolver(guard: EgressGuard): ResolveHost {
  return async (host) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<HostCheck>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'unknown' }), LOOKUP_TIMEOUT_MS);
    });
    const answer = guard.resolve(host).then(
      ({ allowed, denied }): HostCheck => {
        if (allowed.length) return { kind: 'resolved' };
        if (denied.length) return { kind: 'denied', detail: `${egressDeniedMessage(host, denied)}; deliveries to it fail with EgressDenied` };
        return { kind: 'notFound', detail: 'ENOTFOUND' };
      },
      (err: NodeJS.ErrnoException): HostCheck =>
        err.code === 'ENOTFOUND' ? { kind: 'notFound', detail: err.code } : { kind: 'unknown' },
    );
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}
