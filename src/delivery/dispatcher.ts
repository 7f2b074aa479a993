import type { DeliveryTarget } from '../core/socket.js';
import type { Delivery, HttpSender } from './http-sender.js';
import { KeyedLimiter } from './keyed-limiter.js';

/**
 * Sends through the HTTP sender with a cap on concurrent requests per
 * subscriber, so one slow subscriber holds at most that many sockets while
 * every other subscriber's requests go out at once.
 */
export class Dispatcher {
  private readonly limiter: KeyedLimiter;

  constructor(
    private readonly sender: HttpSender,
    perSubscriberConcurrency: number,
  ) {
    this.limiter = new KeyedLimiter(perSubscriberConcurrency);
  }

  send(subscriberKey: string, target: DeliveryTarget, body: string): Delivery {
    let announce!: (written: Promise<boolean>) => void;
    const written = new Promise<boolean>((resolve) => (announce = resolve));
    const result = this.limiter.run(subscriberKey, () => {
      const delivery = this.sender.send(target, body);
      announce(delivery.written);
      return delivery.result;
    });
    return { written, result };
  }
}
