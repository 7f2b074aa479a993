// A tripwire for tests that point the operator at addresses off this machine
// (169.254.169.254, fe80::1, 64:ff9b::...): every TCP connect of this process
// to an address outside loopback is refused before the kernel sees it, and
// recorded. The operator must never try them; should it regress, the test
// fails on the record instead of sending traffic anywhere.
import { isIP } from 'node:net';
import { EgressPolicy, parseEgressRanges, type EgressRule } from '../../src/core/egress-policy.js';

const rules = (cidrs: string[], action: EgressRule['action']): EgressRule[] =>
  parseEgressRanges(cidrs, 'tripwire').map((range) => ({ range, action, origin: 'tripwire' }));
const LOOPBACK = new EgressPolicy([...rules(['0.0.0.0/0', '::/0'], 'deny'), ...rules(['127.0.0.0/8', '::1'], 'allow')]);
const ECONNREFUSED = -111;
const attempts: string[] = [];

type Connect = (this: unknown, req: unknown, address: string, port: number) => number;
const { TCP } = (process as unknown as { binding(name: 'tcp_wrap'): { TCP: { prototype: Record<'connect' | 'connect6', Connect> } } }).binding('tcp_wrap');
for (const method of ['connect', 'connect6'] as const) {
  const original = TCP.prototype[method];
  TCP.prototype[method] = function (this: unknown, req: unknown, address: string, port: number): number {
    if (isIP(address) && !LOOPBACK.check(address).allowed) {
      attempts.push(`${address} port ${port}`);
      return ECONNREFUSED;
    }
    return original.call(this, req, address, port);
  };
}

/** Connects this process tried to addresses off the machine (each refused). */
export function offMachineAttempts(): readonly string[] {
  return attempts;
}
