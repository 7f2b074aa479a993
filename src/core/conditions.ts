/** The metav1.Condition shape. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/**
 * Sets one condition by type, keeping lastTransitionTime when the status did
 * not change (as apimachinery's meta.SetStatusCondition does).
 */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, now: Date): Condition[] {
  const existing = conditions?.find((c) => c.type === input.type);
  const lastTransitionTime =
    existing && existing.status === input.status ? existing.lastTransitionTime : rfc3339(now);
  const next: Condition = { ...input, lastTransitionTime };
  if (!existing) return [...(conditions ?? []), next];
  return conditions!.map((c) => (c === existing ? next : c));
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

let lastSecond = NaN;
let lastText = '';

/** Kubernetes serialises metav1.Time with second precision. */
export function rfc3339(date: Date): string {
  // Called per delivery at relay rates; the text changes once a second.
  const second = Math.floor(date.getTime() / 1000);
  if (second !== lastSecond) {
    lastText = date.toISOString().replace(/\.\d{3}Z$/, 'Z');
    lastSecond = second;
  }
  return lastText;
}

/**
 * The conditions a status holds after one computation: `desired`, in that
 * order, each keeping its lastTransitionTime when its status did not change;
 * conditions of the `owned` types that are not desired are dropped (kstatus
 * reads an absent Reconciling or Stalled as False), and those of other types
 * are kept after them.
 */
export function withConditions(
  previous: readonly Condition[] | undefined,
  owned: ReadonlySet<string>,
  desired: readonly ConditionInput[],
  now: Date,
): Condition[] {
  const wanted = new Set(desired.map((c) => c.type));
  const next = desired.map((input) => {
    const existing = previous?.find((c) => c.type === input.type);
    const lastTransitionTime = existing && existing.status === input.status ? existing.lastTransitionTime : rfc3339(now);
    return { ...input, lastTransitionTime };
  });
  const foreign = (previous ?? []).filter((c) => !owned.has(c.type) && !wanted.has(c.type));
  return [...next, ...foreign];
}
