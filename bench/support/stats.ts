// Summaries of repeated measurements, printed as `value, baseline, ratio [min/median/max]`.

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The q-quantile (0..1) by the nearest-rank method. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface Paired {
  values: number[];
  baselines: number[];
}

/** One figure from repetitions that each measured the value and its baseline, side by side. */
export function figure(name: string, unit: string, paired: Paired, digits = 1): string {
  const ratios = paired.values.map((v, i) => v / paired.baselines[i]!);
  const f = (x: number) => x.toFixed(digits);
  const r = (x: number) => x.toFixed(2);
  return (
    `${name}: ${f(median(paired.values))} ${unit}, baseline ${f(median(paired.baselines))} ${unit}, ` +
    `ratio ${r(median(ratios))} [${r(Math.min(...ratios))}/${r(median(ratios))}/${r(Math.max(...ratios))}]`
  );
}
