import { Context } from '@temporalio/activity';

import { runningSyncs } from '../temporal/running-syncs.ts';
import type { ActivityDeps } from './deps.ts';

/** Entries deleted per transaction: small enough that ingest's appends never wait long behind one. */
export const PRUNE_CHUNK = 1_000;
/**
 * After each chunk the prune rests this many times as long as the chunk took: a SQLite deletion
 * holds the worker's event loop (node:sqlite is synchronous) and the write lock, so a big prune
 * takes at most a fifth of both and the lanes beside it keep their pace.
 */
const PRUNE_REST_FACTOR = 4;

export interface PruneLogInput {
  sourceId: string;
  /** `log.retention`: entries younger than this stay, whoever has passed them. */
  retentionMs: number;
  /**
   * Skip the work (listing the running syncs in Temporal, the deletions) when a prune of the
   * source started less than this long ago: every sync of a source prunes it on its own cadence,
   * and a hundred syncs of one source then prune it about as often as one.
   */
  sharedWithinMs?: number;
}

export interface PruneLogResult {
  /** Entries deleted. */
  pruned: number;
  /** Every entry at or below this seq (and older than the retention) is gone; 0 when nothing could go. */
  throughSeq: number;
  /** Why nothing was pruned, when nothing could be. */
  skipped?: string;
}

/** A running stream sync as Temporal's visibility lists it. */
export interface RunningStreamSync {
  syncId: string;
  /** Its source, from the workflow's memo; undefined for workflows started before it was recorded. */
  sourceId?: string;
}

/**
 * Deletes the log entries of a source that every running stream sync reading it has passed and
 * that are older than `log.retention`, a chunk per transaction so ingest and delivery go on.
 *
 * Which syncs read the source comes from Temporal (the running `stream-sync/*` workflows), their
 * positions from the store (`sync_progress`). A running sync with no stored position yet (it has
 * just started, and may backfill from the beginning) holds everything back; a sync that is no
 * longer running (removed, terminated) holds nothing: re-created later, it resumes at the oldest
 * entry kept.
 */
export async function pruneLog(
  deps: ActivityDeps & { runningStreamSyncs?: () => Promise<RunningStreamSync[]> },
  { sourceId, retentionMs, sharedWithinMs }: PruneLogInput,
): Promise<PruneLogResult> {
  const ctx = Context.current();
  if (sharedWithinMs !== undefined) {
    const startedKey = `log-prune-started-at:${sourceId}`;
    if (Date.now() - Number((await deps.store.getState(startedKey)) ?? 0) < sharedWithinMs)
      return { pruned: 0, throughSeq: 0, skipped: 'a prune of the source started moments ago' };
    await deps.store.setState(startedKey, String(Date.now()));
  }
  const running = await (deps.runningStreamSyncs ?? (() => listRunningStreamSyncs(ctx)))();
  const positions = await deps.store.streamCursors();
  let throughSeq = Number.POSITIVE_INFINITY;
  for (const sync of running) {
    const own = positions.filter((p) => p.syncId === sync.syncId);
    if (own.length === 0) {
      if (sync.sourceId === undefined || sync.sourceId === sourceId)
        return { pruned: 0, throughSeq: 0, skipped: `sync ${sync.syncId} has no stored position yet` };
      continue;
    }
    for (const position of own)
      if (position.sourceId === sourceId) throughSeq = Math.min(throughSeq, position.cursor);
  }
  if (!Number.isFinite(throughSeq)) return { pruned: 0, throughSeq: 0, skipped: 'no running sync reads it' };
  const receivedBefore = Date.now() - retentionMs;
  let pruned = 0;
  for (;;) {
    ctx.heartbeat({ pruned });
    if (ctx.cancellationSignal.aborted) break;
    const chunkStarted = performance.now();
    const n = await deps.store.pruneLog(sourceId, { throughSeq, receivedBefore, limit: PRUNE_CHUNK });
    pruned += n;
    if (n < PRUNE_CHUNK) break;
    // Let ingest's appends and the lanes' reads in between chunks.
    const took = performance.now() - chunkStarted;
    await new Promise((resolve) => setTimeout(resolve, Math.max(10, PRUNE_REST_FACTOR * took)));
  }
  return { pruned, throughSeq };
}

async function listRunningStreamSyncs(ctx: Context): Promise<RunningStreamSync[]> {
  return (await runningSyncs(ctx.client))
    .filter((sync) => sync.type === 'stream')
    .map(({ syncId, source }) => ({ syncId, ...(source !== undefined && { sourceId: source }) }));
}
