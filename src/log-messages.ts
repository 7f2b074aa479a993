/**
 * The messages of the operator's log lines that tools and tests look for
 * (its JSON log's `message` field). Other lines are for people only.
 */
export const LogMessage = {
  operatorStarted: 'operator started',
  raiseFinished: 'raise finished',
  listWatchFailed: 'list/watch failed; retrying',
  reconcileFailed: 'reconcile failed; retrying with backoff',
  leaderAcquired: 'leader election: acquired',
  leaderReleased: 'leader election: released',
  leaderLost: 'leader election: lost',
} as const;
export type LogMessage = (typeof LogMessage)[keyof typeof LogMessage];
