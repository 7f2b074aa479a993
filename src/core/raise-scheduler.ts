import { namespaceOf, type ObjectKey } from './object-key.js';

export interface SchedulerLimits {
  /** Raises running at once, over all namespaces. */
  maxRunning: number;
  /** Raises of one namespace running at once. */
  maxRunningPerNamespace: number;
  /** Raises of one namespace parked at once; beyond that its next raises wait. */
  maxParkedPerNamespace: number;
}

interface NamespaceLoad {
  running: number;
  parked: number;
  /** Raises waiting for a start, oldest first. */
  waiting: Set<ObjectKey>;
}

/**
 * Decides which raises run, fairly across namespaces, with no I/O.
 *
 * A raise runs from its start until every delivery has an outcome. While each
 * of its unfinished deliveries waits on its own subscriber alone (for a
 * request slot, in a retry pause) it is parked: it holds no running slot, so
 * raises of other namespaces and to other subscribers go ahead; parked raises
 * are bounded per namespace instead. Free slots go to the namespaces with
 * waiting raises in turn, oldest raise first within a namespace, so a
 * namespace that floods gets its share and no more.
 */
export class RaiseScheduler {
  private readonly namespaces = new Map<string, NamespaceLoad>();
  /** Started raises and whether they are parked. */
  private readonly started = new Map<ObjectKey, { parked: boolean }>();
  /** Waiting raises given a slot that have not started yet. */
  private readonly granted = new Set<ObjectKey>();
  /** Namespaces in the order they are offered the next free slot. */
  private turn: string[] = [];
  private running = 0;
  private draining = false;

  constructor(private readonly limits: SchedulerLimits) {}

  get runningCount(): number {
    return this.running;
  }

  get startedCount(): number {
    return this.started.size;
  }

  get parkedCount(): number {
    let parked = 0;
    for (const load of this.namespaces.values()) parked += load.parked;
    return parked;
  }

  /**
   * Asks whether `key` may start now. When it may, it counts as running from
   * here; when not, it joins its namespace's line, and a later `grants()`
   * names it once it may.
   */
  tryStart(key: ObjectKey): boolean {
    if (this.started.has(key)) return true;
    if (this.draining) return false;
    const load = this.load(namespaceOf(key));
    if (this.granted.delete(key)) {
      this.started.set(key, { parked: false });
      return true;
    }
    const ahead = load.waiting.size > 0 && load.waiting.values().next().value !== key;
    if (!ahead && this.hasRoom(load)) {
      load.waiting.delete(key);
      this.started.set(key, { parked: false });
      load.running++;
      this.running++;
      return true;
    }
    if (!load.waiting.has(key)) {
      load.waiting.add(key);
      if (!this.turn.includes(namespaceOf(key))) this.turn.push(namespaceOf(key));
    }
    return false;
  }

  /** A started raise's deliveries all wait on their subscribers (true), or one runs again (false). */
  setParked(key: ObjectKey, parked: boolean): void {
    const state = this.started.get(key);
    if (!state || state.parked === parked) return;
    state.parked = parked;
    const load = this.load(namespaceOf(key));
    const step = parked ? -1 : 1;
    load.running += step;
    this.running += step;
    load.parked -= step;
  }

  /** The raise finished, was deleted, or will not start: its place is free. */
  remove(key: ObjectKey): void {
    const namespace = namespaceOf(key);
    const load = this.namespaces.get(namespace);
    if (!load) return;
    const state = this.started.get(key);
    if (state) {
      this.started.delete(key);
      if (state.parked) load.parked--;
      else {
        load.running--;
        this.running--;
      }
    } else if (this.granted.delete(key)) {
      load.running--;
      this.running--;
    }
    load.waiting.delete(key);
    if (load.running === 0 && load.parked === 0 && load.waiting.size === 0) {
      this.namespaces.delete(namespace);
      this.turn = this.turn.filter((n) => n !== namespace);
    }
  }

  /**
   * Hands free slots to waiting raises, one namespace after another; each
   * key returned holds its slot until it starts (`tryStart`) or is removed.
   */
  grants(): ObjectKey[] {
    const given: ObjectKey[] = [];
    if (this.draining) return given;
    for (let offered = 0; offered < this.turn.length && this.running < this.limits.maxRunning; ) {
      const namespace = this.turn.shift()!;
      this.turn.push(namespace);
      const load = this.namespaces.get(namespace);
      const next = load?.waiting.values().next();
      if (!load || !next || next.done || !this.hasRoom(load)) {
        offered++;
        continue;
      }
      load.waiting.delete(next.value);
      this.granted.add(next.value);
      load.running++;
      this.running++;
      given.push(next.value);
      offered = 0;
    }
    return given;
  }

  /** No raise starts any more; the ones started go on. */
  drain(): void {
    this.draining = true;
  }

  private hasRoom(load: NamespaceLoad): boolean {
    return (
      this.running < this.limits.maxRunning &&
      load.running < this.limits.maxRunningPerNamespace &&
      load.parked < this.limits.maxParkedPerNamespace
    );
  }

  private load(namespace: string): NamespaceLoad {
    let load = this.namespaces.get(namespace);
    if (!load) this.namespaces.set(namespace, (load = { running: 0, parked: 0, waiting: new Set() }));
    return load;
  }
}
