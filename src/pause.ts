/** The pauses between retries of a loop, which stopping the loop cuts short. */
export class Pause {
  private wake: (() => void) | undefined;
  private cancelled = false;

  sleep(ms: number): Promise<void> {
    if (this.cancelled || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ends the current pause, and makes every later one end at once. */
  cancel(): void {
    this.cancelled = true;
    this.wake?.();
  }
}
