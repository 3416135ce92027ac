import type { Store, UserSnapshot } from '../store/store.ts';

/**
 * Where a sync keeps its user snapshots. A dry run keeps its own: what it "sent" never reached
 * Customer.io, so once the credentials are there (`dryRun: auto` turns live by itself when the
 * variables appear) live delivery must not take those users as up to date.
 */
export function snapshotScope(syncId: string, dryRun: boolean): string {
  return dryRun ? `${syncId}#dry-run` : syncId;
}

/**
 * The snapshots of these users for a delivery. Live, a user known only to an earlier dry run starts
 * from that run's state (so `$add` keeps counting) with nothing accepted yet, so its next update
 * sends every selected attribute Customer.io has never had.
 */
export async function loadUserSnapshots(
  store: Store,
  syncId: string,
  dryRun: boolean,
  userKeys: readonly string[],
): Promise<Map<string, UserSnapshot>> {
  if (userKeys.length === 0) return new Map();
  const snapshots = await store.getUserSnapshots(snapshotScope(syncId, dryRun), userKeys);
  if (dryRun) return snapshots;
  const unknown = userKeys.filter((key) => !snapshots.has(key));
  if (unknown.length === 0) return snapshots;
  for (const [key, { state, seq }] of await store.getUserSnapshots(snapshotScope(syncId, true), unknown)) {
    snapshots.set(key, { attributes: {}, state, seq });
  }
  return snapshots;
}
