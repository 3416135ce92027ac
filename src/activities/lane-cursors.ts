import type { ActivityDeps } from './deps.ts';

/**
 * Moves every lane of a stream sync's stored cursor outright (replay, reset). The store is the
 * system of record: the workflow mirrors what this wrote, and every lane reads it when it starts.
 */
export async function setStreamCursor(
  deps: ActivityDeps,
  { syncId, sourceId, cursor }: { syncId: string; sourceId: string; cursor: number },
): Promise<{ previous: number }> {
  return { previous: (await deps.store.setStreamCursor(syncId, sourceId, cursor)) ?? 0 };
}

/**
 * The `start` for prepareLanes: startSeq for a sync with no stored lanes; anything for one that has
 * them (prepareLanes does not use it then), without finding a time in what may be a long log.
 */
export async function laneStart(
  deps: ActivityDeps,
  syncId: string,
  sourceId: string,
  startFrom: 'beginning' | { time: number } | undefined,
): Promise<number> {
  if ((await deps.store.getLaneCursors(syncId)) !== undefined) return 0;
  return startSeq(deps, sourceId, startFrom);
}

/** Where a sync with no stored progress starts: the seq its first lane run reads after. */
export async function startSeq(
  deps: ActivityDeps,
  sourceId: string,
  startFrom: 'beginning' | { time: number } | undefined,
): Promise<number> {
  if (startFrom === undefined || startFrom === 'beginning') return 0;
  return (await deps.store.seqAtTime(sourceId, startFrom.time)) - 1;
}
