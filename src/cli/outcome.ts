import type { DeliveryRecord, EventRaise } from '../api/types.js';

/** Exit 0 only when every subscriber got the event: Delivered, or Dispatched with nothing failed. */
export function exitCodeFor(raise: EventRaise): number {
  const status = raise.status;
  if (status?.phase === 'Delivered') return 0;
  if (status?.phase === 'Dispatched' && (status.failed ?? 0) === 0) return 0;
  return 1;
}

/**
 * The phase and what the operator said about it, then one aligned row per
 * subscriber when it recorded deliveries (sync mode), else the counts.
 */
export function describeOutcome(raise: EventRaise): string {
  const status = raise.status ?? {};
  const message = status.conditions?.find((c) => c.type === 'Complete')?.message;
  const lines = [message ? `${status.phase}: ${message}` : `${status.phase ?? 'no phase yet'}`];
  if (status.deliveries?.length) {
    lines.push(...table([['SUBSCRIBER', 'OUTCOME', 'HTTP', 'DURATION', 'FAULT', 'ERROR'], ...status.deliveries.map(row)]));
  } else {
    lines.push(`matched ${status.matched ?? 0}, delivered ${status.delivered ?? 0}, failed ${status.failed ?? 0}`);
  }
  return lines.join('\n');
}

function row(d: DeliveryRecord): string[] {
  const fault = d.faultCode !== undefined || d.faultString !== undefined ? `${d.faultCode ?? '?'} ${d.faultString ?? ''}`.trim() : '';
  return [d.subscriber, d.outcome, d.httpStatus?.toString() ?? '', `${d.durationMs}ms`, fault, d.error ?? ''].map((cell) => cell || '-');
}

/** Columns padded to their widest cell and two spaces apart; the last column is not padded. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}
