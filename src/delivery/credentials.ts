import tls from 'node:tls';
import { DeliveryReason } from '../api/conditions.js';
import type { SubscriberSpec } from '../api/types.js';
import { planConnection, secretUses, type ConnectionResult, type SecretAnswer } from '../core/connection-spec.js';
import type { ConnectionSettings } from './http-sender.js';

/** Reads one Secret of a namespace (SecretStore, cached). */
export type ReadSecret = (namespace: string, name: string) => Promise<SecretAnswer>;

type Spec = Pick<SubscriberSpec, 'tls' | 'auth'>;

/**
 * The connection settings of a Subscriber's spec.tls and spec.auth, from its
 * Secrets: read before every attempt (through the store's cache, so a rotated
 * Secret is used within its TTL), and checked more closely for the status.
 */
export class Credentials {
  constructor(private readonly readSecret: ReadSecret) {}

  /** What the next attempt sends with, or why it cannot be sent. */
  async settings(namespace: string, subscriber: string, spec: Spec): Promise<{ ok: true; settings: ConnectionSettings } | Exclude<ConnectionResult, { ok: true }>> {
    const result = await this.plan(namespace, subscriber, spec);
    if (result.ok !== true) return result;
    const settings: ConnectionSettings = { headers: result.plan.headers };
    if (result.plan.tls) settings.tls = result.plan.tls;
    return { ok: true, settings };
  }

  /** For the Subscriber's status: the plan, and whether its certificates and key load at all. */
  async check(namespace: string, subscriber: string, spec: Spec): Promise<ConnectionResult> {
    const result = await this.plan(namespace, subscriber, spec);
    if (result.ok !== true || !result.plan.tls) return result;
    const { ca, cert, key } = result.plan.tls;
    const unusable = (field: 'caSecretRef' | 'clientCertSecretRef', keys: string, err: unknown): ConnectionResult => ({
      ok: false,
      reason: DeliveryReason.InvalidSecret,
      message: `Secret ${namespace}/${spec.tls![field]!.name} (spec.tls.${field}) keys ${keys} do not load: ${(err as Error).message}`,
    });
    if (ca !== undefined) {
      try {
        tls.createSecureContext({ ca });
      } catch (err) {
        return unusable('caSecretRef', 'ca.crt', err);
      }
    }
    if (cert !== undefined) {
      try {
        tls.createSecureContext({ cert, key });
      } catch (err) {
        return unusable('clientCertSecretRef', 'tls.crt and tls.key', err);
      }
    }
    return result;
  }

  private async plan(namespace: string, subscriber: string, spec: Spec): Promise<ConnectionResult> {
    const names = [...new Set(secretUses(spec).map((u) => u.name))];
    const answers = await Promise.all(names.map(async (name) => [name, await this.readSecret(namespace, name)] as const));
    return planConnection(spec, new Map(answers), { namespace, subscriber });
  }
}
