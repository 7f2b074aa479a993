import { statusCode } from '../../src/kube/errors.js';

/**
 * Retries `call` while the API answers one of `retryOn` (403 by default):
 * RBAC objects just created reach the authorizer's cache a moment later, and a
 * CRD just established answers 429 until its storage is ready.
 */
export async function whenAllowed<T>(call: () => Promise<T>, options: { retryOn?: number[]; timeoutMs?: number } = {}): Promise<T> {
  const retryOn = options.retryOn ?? [403];
  const deadline = performance.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!retryOn.includes(statusCode(err) ?? 0) || performance.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
