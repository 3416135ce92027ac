import type { DeletionEffect } from '../mapping/ops.ts';
import type { PersonChange, Store } from '../store/store.ts';
import { snapshotScope } from './user-snapshots.ts';

/**
 * The local side of deletes and suppressions, around one delivery (or redrive) of a stream sync:
 * which of the batch's people are suppressed before it is planned, and what the accepted deletes and
 * suppressions change once Customer.io has answered.
 *
 * Scopes follow the user snapshots' (src/activities/user-snapshots.ts): a dry run keeps its own
 * suppressions, because what it "sent" never reached Customer.io.
 */

/** The batch's people that are suppressed in this sync (live, or its dry run). */
export function loadSuppressed(
  store: Store,
  syncId: string,
  dryRun: boolean,
  userKeys: readonly string[],
): Promise<Set<string>> {
  return store.getSuppressedUsers(snapshotScope(syncId, dryRun), userKeys);
}

/**
 * Applies the deletes and suppressions Customer.io accepted (their record's seq is in
 * `deliveredSeqs`), in log order, and counts them by kind for the delivery's summary. A person
 * delete or suppress drops the user's snapshots — live, also the dry run's, which live delivery
 * would otherwise start a new person from — and, live, records the person as forgotten in the
 * destination's workspace for its cohort syncs. Must run before the batch's snapshots are written:
 * an identify after the delete in the same batch leaves a fresh snapshot that must survive it.
 */
export async function settleDeletions(
  store: Store,
  args: {
    syncId: string;
    dryRun: boolean;
    destinationId: string;
    deletions: ReadonlyArray<{ seq: number; effect: DeletionEffect }>;
    deliveredSeqs: ReadonlySet<number>;
  },
): Promise<Record<string, number>> {
  const { syncId, dryRun, destinationId, deletions, deliveredSeqs } = args;
  const counts: Record<string, number> = {};
  const changes: Array<{ userKey: string; change: PersonChange }> = [];
  for (const { seq, effect } of deletions) {
    if (!deliveredSeqs.has(seq)) continue;
    counts[effect.kind] = (counts[effect.kind] ?? 0) + 1;
    const change = CHANGES[effect.kind];
    if (change !== undefined && effect.person !== undefined)
      changes.push({ userKey: effect.person.key, change });
  }
  await store.forgetPeople({
    syncId: snapshotScope(syncId, dryRun),
    snapshotScopes: dryRun ? [snapshotScope(syncId, true)] : [syncId, snapshotScope(syncId, true)],
    ...(dryRun ? {} : { destinationId }),
    changes,
  });
  return counts;
}

const CHANGES: Partial<Record<DeletionEffect['kind'], PersonChange>> = {
  person_delete: 'delete',
  person_suppress: 'suppress',
  person_unsuppress: 'unsuppress',
};

/** Adds counts by kind into `into` (status counters, summaries). */
export function addCounts(
  into: Record<string, number>,
  counts: Readonly<Record<string, number>> | undefined,
): void {
  for (const [kind, n] of Object.entries(counts ?? {})) into[kind] = (into[kind] ?? 0) + n;
}
