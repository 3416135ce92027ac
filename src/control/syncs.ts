import { isDeepStrictEqual } from 'node:util';

import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';

import { tryResolveEnv } from '../config/env.ts';
import type { CohortSyncSpec, Config, Destination, StreamSyncSpec, Sync } from '../config/schema.ts';
import { runningSyncs } from '../temporal/running-syncs.ts';
import { whenHandled } from './handler-retry.ts';
import { staticDetailsOf } from './web-ui-static-details.ts';
import type { RedriveSummary } from '../workflows/activity-io.ts';
import {
  DestinationAttribute,
  SyncIdAttribute,
  SyncStatusAttribute,
  SyncTypeAttribute,
  cohortStatusQuery,
  cohortSyncWorkflowId,
  configQuery,
  pauseSignal,
  redriveUpdate,
  resumeSignal,
  runNowSignal,
  setCursorUpdate,
  statusQuery,
  streamSyncWorkflowId,
  updateConfigUpdate,
  type CohortSyncStatus,
  type StreamSyncStatus,
} from '../workflows/sync-api.ts';

/** Thrown for an operator mistake (unknown sync, wrong type); the CLI prints it without a stack. */
export class SyncControlError extends Error {
  override name = 'SyncControlError';
  /** Set when no such sync is running, so the CLI can exit with its not-found code. */
  readonly notFound: boolean;
  constructor(message: string, notFound = false) {
    super(message);
    this.notFound = notFound;
  }
}

export type SyncSpec = StreamSyncSpec | CohortSyncSpec;
export type SyncType = Sync['type'];
export type AnySyncStatus = StreamSyncStatus | CohortSyncStatus;

const WORKFLOW_TYPES: Record<SyncType, string> = {
  stream: 'streamSyncWorkflow',
  cohort: 'cohortSyncWorkflow',
};

export function workflowIdFor(type: SyncType, syncId: string): string {
  return type === 'stream' ? streamSyncWorkflowId(syncId) : cohortSyncWorkflowId(syncId);
}

/**
 * The spec a sync's workflow runs with. `dryRun: auto` is decided here, in the environment of the
 * process that applies the config (the CLI, `make start`), and recorded as true or false: every
 * worker then does the same thing, and one that lacks the credentials holds the sync
 * (`credentials_missing`) instead of quietly recording what it should send.
 */
export function specFor(config: Config, sync: Sync, env: NodeJS.ProcessEnv = process.env): SyncSpec {
  const configured = config.destinations.find((d) => d.id === sync.destination);
  if (!configured) throw new SyncControlError(`sync ${sync.id}: unknown destination ${sync.destination}`);
  const destination: Destination = { ...configured, dryRun: resolveDryRun(configured, env) };
  return sync.type === 'stream' ? { sync, destination, log: config.log } : { sync, destination };
}

/** `auto` is a dry run while the applier's environment lacks the site id or Track key. */
export function resolveDryRun(destination: Destination, env: NodeJS.ProcessEnv): boolean {
  if (destination.dryRun !== 'auto') return destination.dryRun;
  // `${VAR:-}` resolves to '' when unset: an empty credential counts as missing too.
  return !tryResolveEnv(destination.siteId, env) || !tryResolveEnv(destination.trackApiKey, env);
}

export type PlanAction = 'start' | 'update' | 'pause' | 'resume' | 'unchanged' | 'stop';

export interface PlanStep {
  syncId: string;
  actions: PlanAction[];
}

interface RunningSync {
  type: SyncType;
  handle: WorkflowHandle;
}

/** The running workflow of a sync, whichever type it is; undefined when none runs. */
async function findRunning(
  client: Client,
  syncId: string,
  type?: SyncType,
): Promise<RunningSync | undefined> {
  for (const candidate of type ? [type] : (['stream', 'cohort'] as const)) {
    const handle = client.workflow.getHandle(workflowIdFor(candidate, syncId));
    try {
      const description = await handle.describe();
      if (description.status.name === 'RUNNING') return { type: candidate, handle };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return undefined;
}

/**
 * Reconciles the running workflows with a config file, like `kubectl apply`: starts new syncs,
 * updates changed ones, pauses/resumes per `status`, and with `prune` stops syncs the file no
 * longer has. With `dryRun` it only returns the plan.
 */
export async function applyConfig(
  client: Client,
  config: Config,
  opts: { taskQueue: string; prune?: boolean; dryRun?: boolean; env?: NodeJS.ProcessEnv },
): Promise<PlanStep[]> {
  const steps: PlanStep[] = [];
  for (const sync of config.syncs) {
    const spec = specFor(config, sync, opts.env);
    const current = await findRunning(client, sync.id, sync.type);
    const actions: PlanAction[] = [];
    if (!current) {
      actions.push('start');
      if (!opts.dryRun) await startSync(client, spec, opts.taskQueue);
    } else {
      const [runningSpec, status] = await Promise.all([
        whenHandled(() => current.handle.query(configQuery)),
        whenHandled(() => current.handle.query<AnySyncStatus>('status')),
      ]);
      if (!isDeepStrictEqual(runningSpec, spec)) {
        actions.push('update');
        // Both sync types answer the `updateConfig` update; its validator rejects a bad spec.
        if (!opts.dryRun)
          await whenHandled(() =>
            current.handle.executeUpdate(updateConfigUpdate, { args: [spec as StreamSyncSpec] }),
          );
      }
      const wantPaused = sync.status === 'paused';
      const isPaused = status.status === 'paused';
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
    for (const { syncId, workflowId } of await runningSyncs(client)) {
      if (wanted.has(syncId)) continue;
      steps.push({ syncId, actions: ['stop'] });
      if (!opts.dryRun)
        await client.workflow.getHandle(workflowId).terminate('removed from the config (apply --prune)');
    }
  }
  return steps;
}

export async function startSync(client: Client, spec: SyncSpec, taskQueue: string): Promise<void> {
  const { sync, destination } = spec;
  await client.workflow.start(WORKFLOW_TYPES[sync.type], {
    workflowId: workflowIdFor(sync.type, sync.id),
    taskQueue,
    args: [{ spec }],
    typedSearchAttributes: [
      { key: SyncIdAttribute, value: sync.id },
      { key: SyncTypeAttribute, value: sync.type },
      { key: SyncStatusAttribute, value: sync.status === 'paused' ? 'paused' : 'running' },
      { key: DestinationAttribute, value: destination.id },
    ],
    // The source lets log pruning tell which syncs read which source without asking each one.
    memo: { name: sync.name ?? sync.id, ...(sync.type === 'stream' && { source: sync.source }) },
    staticSummary:
      sync.type === 'stream'
        ? `stream sync ${sync.id}: ${sync.source} → ${destination.id}`
        : `cohort sync ${sync.id}: ${sync.cohort.from} → ${destination.id} (${sync.target})`,
    staticDetails: staticDetailsOf(spec),
  });
}

async function requireRunning(client: Client, syncId: string, type?: SyncType): Promise<RunningSync> {
  const found = await findRunning(client, syncId, type);
  if (!found) {
    const other = type ? await findRunning(client, syncId) : undefined;
    if (other) throw new SyncControlError(`sync ${syncId} is a ${other.type} sync, not a ${type} sync`);
    throw new SyncControlError(`no running sync "${syncId}" (apply a config that has it)`, true);
  }
  return found;
}

export async function syncStatus(client: Client, syncId: string): Promise<AnySyncStatus> {
  const { handle } = await requireRunning(client, syncId);
  return whenHandled(() => handle.query<AnySyncStatus>('status'));
}

export async function streamStatus(client: Client, syncId: string): Promise<StreamSyncStatus> {
  const { handle } = await requireRunning(client, syncId, 'stream');
  return whenHandled(() => handle.query(statusQuery));
}

export async function cohortStatus(client: Client, syncId: string): Promise<CohortSyncStatus> {
  const { handle } = await requireRunning(client, syncId, 'cohort');
  return whenHandled(() => handle.query(cohortStatusQuery));
}

/** A row of `list`: live status when a worker answers, else what the Web UI's search attributes say. */
export interface SyncListRow {
  syncId: string;
  type?: SyncType;
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
  for (const { syncId, workflowId, indexedStatus } of await runningSyncs(client)) {
    try {
      const status = await client.connection.withDeadline(Date.now() + queryTimeoutMs, () =>
        client.workflow.getHandle(workflowId).query<AnySyncStatus>('status'),
      );
      rows.push(
        status.type === 'stream'
          ? {
              syncId,
              type: 'stream',
              status: status.status,
              lag: status.lag,
              delivered: status.counters.delivered,
              deadLettered: status.counters.deadLettered,
              lastError: status.lastError?.message,
            }
          : {
              syncId,
              type: 'cohort',
              status: status.running ? 'running (applying)' : status.status,
              delivered: status.counters.added + status.counters.removed,
              lastError: status.lastError?.message,
            },
      );
    } catch {
      rows.push({ syncId, status: indexedStatus, lastError: 'no worker answered the status query' });
    }
  }
  return rows;
}

export async function pauseSync(client: Client, syncId: string): Promise<void> {
  await (await requireRunning(client, syncId)).handle.signal(pauseSignal);
}

export async function resumeSync(client: Client, syncId: string): Promise<void> {
  await (await requireRunning(client, syncId)).handle.signal(resumeSignal);
}

/** Starts a cohort sync's run now, whatever its cadence; `confirm` applies a run held for a large removal. */
export async function runCohortNow(
  client: Client,
  syncId: string,
  opts: { confirm?: boolean } = {},
): Promise<void> {
  const handle = (await requireRunning(client, syncId, 'cohort')).handle;
  await handle.signal(runNowSignal, opts.confirm ? { confirm: true } : {});
}

export async function setCursor(
  client: Client,
  syncId: string,
  cursor: number,
): Promise<{ previous: number; cursor: number }> {
  const { handle } = await requireRunning(client, syncId, 'stream');
  return whenHandled(() => handle.executeUpdate(setCursorUpdate, { args: [cursor] }));
}

export async function redrive(client: Client, syncId: string, ids?: number[]): Promise<RedriveSummary> {
  const { handle } = await requireRunning(client, syncId, 'stream');
  return whenHandled(() => handle.executeUpdate(redriveUpdate, { args: [{ ids }] }));
}
