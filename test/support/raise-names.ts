// How a test follows one raise onto the wire: the raise carries its own name
// in a string param "raise", and each request body a peer receives names the
// raise it delivers. The pattern is the operator's encoding of a named param
// (OpenSIPS's: the name, a newline, then the value).
import type { EventParam } from '../../src/core/event-params.js';

export const RAISE_PARAM = 'raise';

/** The params of a raise named `name`: one string param "raise" holding it. */
export function raiseParams(name: string): EventParam[] {
  return [{ name: RAISE_PARAM, string: name }];
}

/** The string value of the named param `param` in an XML-RPC request body. */
export function paramOf(body: Buffer | string, param: string): string | undefined {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const escaped = param.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`<name>${escaped}</name>\\n<value><string>([^<]*)<`).exec(text)?.[1];
}

/** The raise a request body delivers (its "raise" param), or undefined. */
export function raiseNameOf(body: Buffer | string): string | undefined {
  return paramOf(body, RAISE_PARAM);
}

/** The method called in an XML-RPC request body. */
export function methodNameOf(body: Buffer | string): string | undefined {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  return /<methodName>([^<]+)</.exec(text)?.[1];
}

/** Requests per raise name ('?' for a body that names none). */
export function countByRaise(requests: Iterable<{ body: Buffer | string }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { body } of requests) {
    const raise = raiseNameOf(body) ?? '?';
    counts.set(raise, (counts.get(raise) ?? 0) + 1);
  }
  return counts;
}
