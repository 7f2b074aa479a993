import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { SecretAnswer } from '../core/connection-spec.js';
import { truncate } from '../core/text.js';
import { errorText, statusCode } from './errors.js';

/** How long a read is reused unless --secret-ttl says otherwise: a rotated Secret is in use within this time. */
export const DEFAULT_SECRET_TTL_MS = 60_000;

interface Entry {
  at: number;
  answer: Promise<SecretAnswer>;
}

/**
 * Secrets of the Subscribers' namespaces, each read with one GET by name: the
 * operator may only be granted `get` on named Secrets (no list, no watch), so
 * there is no informer. A read is reused for `ttlMs`, found or not found or
 * forbidden alike, so a flood of deliveries costs one GET per Secret and
 * interval; a rotated Secret, a created one or a new grant is seen within it.
 * An API error that says nothing about the Secret is not kept.
 */
export class SecretStore {
  private readonly core: CoreV1Api;
  private readonly entries = new Map<string, Entry>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly ttlMs: number = DEFAULT_SECRET_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  read(namespace: string, name: string): Promise<SecretAnswer> {
    const key = `${namespace}/${name}`;
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry && now - entry.at < this.ttlMs) return entry.answer;
    if (this.entries.size > 1024) this.prune(now);
    const answer = this.fetch(namespace, name).then((result) => {
      if (result.kind === 'unavailable' && this.entries.get(key)?.answer === answer) this.entries.delete(key);
      return result;
    });
    this.entries.set(key, { at: now, answer });
    return answer;
  }

  private async fetch(namespace: string, name: string): Promise<SecretAnswer> {
    try {
      const secret = await this.core.readNamespacedSecret({ namespace, name });
      const data: Record<string, Buffer> = {};
      for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(value, 'base64');
      return { kind: 'found', data };
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) return { kind: 'notFound' };
      if (code === 403) return { kind: 'forbidden', subject: subjectOf(err) };
      return { kind: 'unavailable', message: truncate(errorText(err), 256) };
    }
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) if (now - entry.at >= this.ttlMs) this.entries.delete(key);
  }
}

/**
 * The kubectl flag that names the identity the API server refused, from its
 * message (`User "system:serviceaccount:NS:NAME" cannot get resource "secrets"...`).
 */
export function subjectOf(err: unknown): string {
  const user = /User "([^"]+)"/.exec(messageOf(err))?.[1];
  if (!user) return '--serviceaccount=event-xmlrpc-system:event-xmlrpc-operator';
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
  return sa ? `--serviceaccount=${sa[1]}:${sa[2]}` : `--user=${user}`;
}

function messageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown } | undefined;
    if (typeof parsed?.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return err instanceof Error ? err.message : String(err);
}
