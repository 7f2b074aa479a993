import type { ObjectKey } from './object-key.js';

/**
 * A set of keys handed out in turns between their groups (the part before
 * the first `/`: a namespace), oldest first within a group: a group with a
 * thousand keys waiting delays another group's key by one turn, not by a
 * thousand.
 */
export class FairQueue<K extends string = ObjectKey> {
  /** Groups in the order they take their next turn. */
  private readonly groups = new Map<string, Set<K>>();
  private count = 0;

  add(key: K): void {
    const group = groupOf(key);
    let keys = this.groups.get(group);
    if (!keys) this.groups.set(group, (keys = new Set()));
    if (keys.has(key)) return;
    keys.add(key);
    this.count++;
  }

  /** The next key, from the group whose turn it is; that group goes to the back. */
  shift(): K | undefined {
    const first = this.groups.entries().next();
    if (first.done) return undefined;
    const [group, keys] = first.value;
    const key = keys.values().next().value!;
    keys.delete(key);
    this.count--;
    this.groups.delete(group);
    if (keys.size > 0) this.groups.set(group, keys);
    return key;
  }

  get size(): number {
    return this.count;
  }
}

function groupOf(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? '' : key.slice(0, slash);
}
