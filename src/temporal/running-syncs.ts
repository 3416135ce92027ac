import type { Client } from '@temporalio/client';

import { SyncIdAttribute, SyncStatusAttribute, SyncTypeAttribute } from '../workflows/sync-api.ts';

export interface IndexedSync {
  syncId: string;
  workflowId: string;
  /** `stream` or `cohort`, as indexed; undefined for a workflow indexed without it. */
  type?: string;
  indexedStatus: string;
  /** A stream sync's source, from its memo; undefined for workflows started before it was recorded. */
  source?: string;
}

/**
 * Running syncs as Temporal's visibility lists them (the Web UI's view): search attributes and
 * memo, no query to each workflow. Used by `apply --prune`, `list` and log pruning.
 */
export async function runningSyncs(client: Client): Promise<IndexedSync[]> {
  const found: IndexedSync[] = [];
  for await (const wf of client.workflow.list({
    query: `${SyncIdAttribute.name} IS NOT NULL AND ExecutionStatus = "Running"`,
  })) {
    const first = (name: string) => (wf.searchAttributes?.[name] as unknown[] | undefined)?.[0];
    const type = first(SyncTypeAttribute.name);
    const source = wf.memo?.source;
    found.push({
      syncId: String(first(SyncIdAttribute.name) ?? wf.workflowId),
      workflowId: wf.workflowId,
      ...(typeof type === 'string' && { type }),
      indexedStatus: String(first(SyncStatusAttribute.name) ?? 'unknown'),
      ...(typeof source === 'string' && { source }),
    });
  }
  return found.sort((a, b) => a.syncId.localeCompare(b.syncId));
}
