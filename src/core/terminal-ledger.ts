import type { ObjectKey } from './object-key.js';

/** The part of a raise the ledger compares: which object, and which redelivery its terminal status answers. */
export interface TerminalMark {
  uid: string;
  redelivered: string | undefined;
}

/**
 * The terminal statuses written that the cache may not show yet. Until it
 * does, a reconcile of that raise must not deliver it again: the cache lags
 * our own writes, and on a new leader the previous leader's.
 */
export class TerminalLedger {
  private readonly marks = new Map<ObjectKey, TerminalMark>();

  remember(key: ObjectKey, mark: TerminalMark): void {
    this.marks.set(key, mark);
  }

  /**
   * Whether the cached object is behind a terminal write of ours: true means
   * leave the raise alone. A cached object that caught up, or another object
   * of the same name, ends the mark.
   */
  isAhead(key: ObjectKey, cached: TerminalMark & { terminal: boolean }): boolean {
    const mark = this.marks.get(key);
    if (!mark) return false;
    if (mark.uid === cached.uid && !(cached.terminal && cached.redelivered === mark.redelivered)) return true;
    this.marks.delete(key);
    return false;
  }

  forget(key: ObjectKey): void {
    this.marks.delete(key);
  }

  get size(): number {
    return this.marks.size;
  }
}
