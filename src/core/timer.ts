/** Node's timers overflow past 2^31-1 ms and then fire at once; every delay the operator sets stays below. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay safe for setTimeout: finite, not negative, at most MAX_TIMER_MS. */
export function clampTimerMs(ms: number): number {
  if (!Number.isFinite(ms)) return ms > 0 ? MAX_TIMER_MS : 0;
  return Math.min(Math.max(ms, 0), MAX_TIMER_MS);
}
