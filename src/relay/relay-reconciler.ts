import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'winston';
import type { EventRelay } from '../api/relay-types.js';
import { EVENT_RELAYS } from '../api/types.js';
import { splitKey, type ObjectKey } from '../core/object-key.js';
import { relayStatus } from '../core/relay-status.js';
import type { ApiClient } from '../kube/api-client.js';
import type { ObjectCache } from '../kube/informer.js';
import type { Reconciler } from '../controller/controller.js';

/**
 * The leader gives each relay its secret path, once, and writes the socket
 * OpenSIPS is to be subscribed to and Ready; every replica then serves the
 * relay from its own cache.
 */
export class RelayReconciler implements Reconciler {
  constructor(
    private readonly deps: {
      cache: ObjectCache<EventRelay>;
      api: ApiClient;
      /** Host and port of the relay Service, written into status.socket. */
      host: string;
      port: () => number;
      now: () => Date;
      log: Logger;
      random?: (bytes: number) => Buffer;
    },
  ) {}

  async reconcile(key: ObjectKey): Promise<void> {
    const { namespace, name } = splitKey(key);
    const relay = this.deps.cache.get(namespace, name);
    if (!relay || relay.metadata.deletionTimestamp) return;
    const status = relayStatus({ relay, host: this.deps.host, port: this.deps.port(), random: this.deps.random ?? randomBytes, now: this.deps.now() });
    if (isDeepStrictEqual(status, relay.status)) return;
    await this.deps.api.replaceStatus(EVENT_RELAYS, relay, status);
    if (status.path !== relay.status?.path) this.deps.log.info('relay served', { namespace, name, mode: relay.spec?.mode ?? 'Memory' });
  }
}
