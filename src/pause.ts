import { clampTimerMs } from './core/timer.js';

/** The pauses of loops that stopping cuts short: every pending sleep ends on cancel, and so does an aborted one. */
export class Pause {
  private readonly sleepers = new Set<() => void>();
  private cancelled = false;

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.cancelled || ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, clampTimerMs(ms));
      this.sleepers.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  /** Ends every pending pause, and makes every later one end at once. */
  cancel(): void {
    this.cancelled = true;
    for (const wake of [...this.sleepers]) wake();
  }
}
