import { isDeepStrictEqual } from 'node:util';

import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';

import type { Config, StreamSyncSpec, Sync } from '../config/schema.ts';
import type { RedriveSummary } from '../activities/redrive.ts';
import {
  DestinationAttribute,
  SyncIdAttribute,
  SyncStatusAttribute,
  SyncTypeAttribute,
  configQuery,
  pauseSignal,
  redriveUpdate,
  resumeSignal,
  setCursorUpdate,
  statusQuery,
  streamSyncWorkflowId,
  updateConfigUpdate,
  type StreamSyncStatus,
} from '../workflows/definitions.ts';
import type { streamSyncWorkflow } from '../workflows/stream-sync.ts';

/** Thrown for an operator mistake (unknown sync, wrong type); the CLI prints it without a stack. */
export class SyncControlError extends Error {
  override name = 'SyncControlError';
}

export function specFor(config: Config, sync: Sync): StreamSyncSpec {
  const destination = config.destinations.find((d) => d.id === sync.destination);
  if (!destination) throw new SyncControlError(`sync ${sync.id}: unknown destination ${sync.destination}`);
  return { sync, destination };
}

export type PlanAction = 'start' | 'update' | 'pause' | 'resume' | 'unchanged' | 'stop';

export interface PlanStep {
  syncId: string;
  actions: PlanAction[];
}

/** Reads what is running for a sync: its config and status, or undefined when not running. */
async function running(client: Client, syncId: string) {
  const handle = client.workflow.getHandle<typeof streamSyncWorkflow>(streamSyncWorkflowId(syncId));
  try {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') return undefined;
    const [spec, status] = await Promise.all([handle.query(configQuery), handle.query(statusQuery)]);
    return { handle, spec, status };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Reconciles the running workflows with a config file, like `kubectl apply`: starts new syncs,
 * updates changed ones, pauses/resumes per `status`, and with `prune` stops syncs the file no
 * longer has. With `dryRun` it only returns the plan.
 */
export async function applyConfig(
  client: Client,
  config: Config,
  opts: { taskQueue: string; prune?: boolean; dryRun?: boolean },
): Promise<PlanStep[]> {
  const steps: PlanStep[] = [];
  for (const sync of config.syncs) {
    const spec = specFor(config, sync);
    const current = await running(client, sync.id);
    const actions: PlanAction[] = [];
    if (!current) {
      actions.push('start');
      if (!opts.dryRun) await startSync(client, spec, opts.taskQueue);
    } else {
      if (!isDeepStrictEqual(current.spec, spec)) {
        actions.push('update');
        if (!opts.dryRun) await current.handle.executeUpdate(updateConfigUpdate, { args: [spec] });
      }
      const wantPaused = sync.status === 'paused';
      const isPaused = current.status.status === 'paused';
      if (wantPaused && !isPaused) {
        actions.push('pause');
        if (!opts.dryRun) await current.handle.signal(pauseSignal);
      } else if (!wantPaused && isPaused) {
        actions.push('resume');
        if (!opts.dryRun) await current.handle.signal(resumeSignal);
      }
      if (actions.length === 0) actions.push('unchanged');
    }
    steps.push({ syncId: sync.id, actions });
  }
  if (opts.prune) {
    const wanted = new Set(config.syncs.map((s) => s.id));
    for (const syncId of await runningSyncIds(client)) {
      if (wanted.has(syncId)) continue;
      steps.push({ syncId, actions: ['stop'] });
      if (!opts.dryRun) {
        await client.workflow
          .getHandle(streamSyncWorkflowId(syncId))
          .terminate('removed from the config (apply --prune)');
      }
    }
  }
  return steps;
}

export async function startSync(client: Client, spec: StreamSyncSpec, taskQueue: string): Promise<void> {
  const { sync, destination } = spec;
  await client.workflow.start<typeof streamSyncWorkflow>('streamSyncWorkflow', {
    workflowId: streamSyncWorkflowId(sync.id),
    taskQueue,
    args: [{ spec }],
    typedSearchAttributes: [
      { key: SyncIdAttribute, value: sync.id },
      { key: SyncTypeAttribute, value: sync.type },
      { key: SyncStatusAttribute, value: sync.status === 'paused' ? 'paused' : 'running' },
      { key: DestinationAttribute, value: destination.id },
    ],
    memo: { name: sync.name ?? sync.id },
    staticSummary: `${sync.type} sync ${sync.id}: ${sync.source} → ${destination.id}`,
  });
}

export async function runningSyncIds(client: Client): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list({
    query: `${SyncIdAttribute.name} IS NOT NULL AND ExecutionStatus = "Running"`,
  })) {
    const id = wf.searchAttributes?.[SyncIdAttribute.name];
    if (Array.isArray(id) && typeof id[0] === 'string') ids.push(id[0]);
    else if (wf.workflowId.startsWith('stream-sync/')) ids.push(wf.workflowId.slice('stream-sync/'.length));
  }
  return ids.sort();
}

export async function handleFor(
  client: Client,
  syncId: string,
): Promise<WorkflowHandle<typeof streamSyncWorkflow>> {
  const handle = client.workflow.getHandle<typeof streamSyncWorkflow>(streamSyncWorkflowId(syncId));
  try {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING')
      throw new SyncControlError(`sync ${syncId} is not running (${status.name.toLowerCase()})`);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new SyncControlError(`no sync "${syncId}" (apply a config that has it)`);
    throw err;
  }
  return handle;
}

export async function syncStatus(client: Client, syncId: string): Promise<StreamSyncStatus> {
  return (await handleFor(client, syncId)).query(statusQuery);
}

/** A row of `list`: live status when a worker answers, else what the Web UI's search attributes say. */
export interface SyncListRow {
  syncId: string;
  status: string;
  lag?: number;
  delivered?: number;
  deadLettered?: number;
  lastError?: string;
}

/**
 * Lists running syncs. Queries need a worker; when none answers in time the row falls back to the
 * status search attribute instead of hanging or failing the whole list.
 */
export async function listSyncs(client: Client, queryTimeoutMs = 3000): Promise<SyncListRow[]> {
  const rows: SyncListRow[] = [];
  for await (const wf of client.workflow.list({
    query: `${SyncIdAttribute.name} IS NOT NULL AND ExecutionStatus = "Running"`,
  })) {
    const syncId = String(
      (wf.searchAttributes?.[SyncIdAttribute.name] as unknown[] | undefined)?.[0] ?? wf.workflowId,
    );
    const indexed = String(
      (wf.searchAttributes?.[SyncStatusAttribute.name] as unknown[] | undefined)?.[0] ?? 'unknown',
    );
    try {
      const status = await client.connection.withDeadline(Date.now() + queryTimeoutMs, () =>
        client.workflow.getHandle(wf.workflowId).query(statusQuery),
      );
      rows.push({
        syncId,
        status: status.status,
        lag: status.lag,
        delivered: status.counters.delivered,
        deadLettered: status.counters.deadLettered,
        lastError: status.lastError?.message,
      });
    } catch {
      rows.push({ syncId, status: indexed, lastError: 'no worker answered the status query' });
    }
  }
  return rows.sort((a, b) => a.syncId.localeCompare(b.syncId));
}

export async function pauseSync(client: Client, syncId: string): Promise<void> {
  await (await handleFor(client, syncId)).signal(pauseSignal);
}

export async function resumeSync(client: Client, syncId: string): Promise<void> {
  await (await handleFor(client, syncId)).signal(resumeSignal);
}

export async function setCursor(
  client: Client,
  syncId: string,
  cursor: number,
): Promise<{ previous: number; cursor: number }> {
  return (await handleFor(client, syncId)).executeUpdate(setCursorUpdate, { args: [cursor] });
}

export async function redrive(client: Client, syncId: string, ids?: number[]): Promise<RedriveSummary> {
  return (await handleFor(client, syncId)).executeUpdate(redriveUpdate, { args: [{ ids }] });
}
