import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';

import { checkExportRange, ExportHourError, hoursBetween, parseHourInput } from '../backfill/export-hours.ts';
import type { Config } from '../config/schema.ts';
import {
  backfillProgressQuery,
  backfillWorkflowId,
  type BackfillInput,
  type BackfillProgress,
} from '../workflows/backfill-definitions.ts';
import { pauseSignal, resumeSignal, SyncTypeAttribute } from '../workflows/sync-api.ts';
import { SyncControlError } from './syncs.ts';
import { progressBar } from './progress-bar.ts';

/**
 * Starting and watching backfills (src/workflows/backfill.ts): one per source at a time, workflow
 * id `backfill/<source>`, so a second start while one runs is refused rather than reading the same
 * hours twice side by side.
 */

export const DEFAULT_HOURS_PER_REQUEST = 24;
export const DEFAULT_RECORDS_PER_SECOND = 50_000;

export interface BackfillRequest {
  sourceId: string;
  from?: string;
  to?: string;
  file?: string;
  hoursPerRequest?: number;
  recordsPerSecond?: number;
  force?: boolean;
}

function hourOf(text: string, flag: string): number {
  try {
    return parseHourInput(text);
  } catch (err) {
    if (err instanceof ExportHourError) throw new SyncControlError(`${flag}: ${err.message}`);
    throw err;
  }
}

/** The workflow input a request stands for, checked against the config; no secret is in it. */
export function backfillInput(config: Config, request: BackfillRequest): BackfillInput {
  const source = config.sources.find((s) => s.id === request.sourceId);
  if (!source) {
    const known = config.sources.map((s) => s.id).join(', ') || 'none';
    throw new SyncControlError(`no source "${request.sourceId}" in the config (sources: ${known})`, true);
  }
  if ((request.file === undefined) === (request.from === undefined || request.to === undefined)) {
    throw new SyncControlError('backfill needs --from and --to (upload hours), or --file <export zip>');
  }
  const input: BackfillInput = {
    source: {
      sourceId: source.id,
      apiKey: source.apiKey,
      ...(source.secretKey !== undefined && { secretKey: source.secretKey }),
      region: source.region,
      ...(source.exportUrl !== undefined && { exportUrl: source.exportUrl }),
    },
    hoursPerRequest: request.hoursPerRequest ?? DEFAULT_HOURS_PER_REQUEST,
    recordsPerSecond: request.recordsPerSecond ?? DEFAULT_RECORDS_PER_SECOND,
    force: request.force ?? false,
  };
  if (request.file !== undefined) return { ...input, file: request.file };
  if (source.secretKey === undefined) {
    throw new SyncControlError(
      `source "${source.id}" has no secretKey: the Export API takes the project's API key and secret key`,
    );
  }
  const from = hourOf(request.from!, '--from');
  const to = hourOf(request.to!, '--to');
  try {
    checkExportRange(from, to);
  } catch (err) {
    if (err instanceof ExportHourError) throw new SyncControlError(err.message);
    throw err;
  }
  return { ...input, range: { from, to } };
}

export async function startBackfill(client: Client, taskQueue: string, input: BackfillInput) {
  const workflowId = backfillWorkflowId(input.source.sourceId);
  try {
    return await client.workflow.start('backfillWorkflow', {
      workflowId,
      taskQueue,
      args: [input],
      // A type to filter on in the Web UI, but no sync id: a backfill is not a sync that `apply
      // --prune` would stop, nor one `list` shows.
      searchAttributes: { [SyncTypeAttribute.name]: ['backfill'] },
      staticSummary: input.range
        ? `backfill of ${input.source.sourceId}: ${hoursBetween(input.range.from, input.range.to)} upload hours`
        : `backfill of ${input.source.sourceId} from ${input.file}`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new SyncControlError(
        `a backfill of ${input.source.sourceId} is already running (${workflowId}): wait for it, or cancel it with --cancel`,
      );
    }
    throw err;
  }
}

/** `backfill/<source>` (as `cio-sync status` takes it) → the source id; undefined for a sync id. */
export function backfillSourceOf(id: string): string | undefined {
  return id.startsWith('backfill/') ? id.slice('backfill/'.length) : undefined;
}

function handleOf(client: Client, sourceId: string): WorkflowHandle {
  return client.workflow.getHandle(backfillWorkflowId(sourceId));
}

export async function backfillProgress(client: Client, sourceId: string): Promise<BackfillProgress> {
  try {
    return await handleOf(client, sourceId).query(backfillProgressQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new SyncControlError(`no backfill of ${sourceId} has run`, true);
    }
    throw err;
  }
}

export async function signalBackfill(
  client: Client,
  sourceId: string,
  action: 'pause' | 'resume' | 'cancel',
): Promise<void> {
  const handle = handleOf(client, sourceId);
  try {
    if (action === 'cancel') await handle.cancel();
    else await handle.signal(action === 'pause' ? pauseSignal : resumeSignal);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new SyncControlError(`no backfill of ${sourceId} is running`, true);
    }
    throw err;
  }
}

const FINISHED = new Set(['completed', 'failed', 'cancelled']);

/** Polls a backfill until it ends, with a progress bar of hours (or rows, for a file) on stderr. */
export async function waitForBackfill(
  client: Client,
  sourceId: string,
  showBar: boolean,
): Promise<BackfillProgress> {
  const bar = progressBar(
    ' backfill |{bar}| {value}/{total} hours · {appended} appended, {duplicates} already there',
    showBar,
  );
  let started = false;
  try {
    for (;;) {
      const progress = await backfillProgress(client, sourceId);
      const { tally } = progress;
      const payload = { appended: tally.appended, duplicates: tally.duplicates };
      if (bar && !started) bar.start(progress.hoursTotal ?? 1, tally.hours, payload);
      started = true;
      bar?.update(tally.hours, payload);
      if (FINISHED.has(progress.status)) return progress;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    bar?.stop();
  }
}

export function describeBackfill(progress: BackfillProgress): string {
  const { tally } = progress;
  const what = progress.range ? `${progress.range.from} … ${progress.range.to}` : `file ${progress.file}`;
  return [
    `backfill/${progress.sourceId} ${progress.status}: ${what}`,
    `hours ${tally.hours}${progress.hoursTotal === undefined ? '' : `/${progress.hoursTotal}`} (${tally.skippedHours} done before)`,
    `rows ${tally.records}: appended ${tally.appended}, already in the log ${tally.duplicates}, refused ${tally.invalid}`,
    ...(progress.lastError ? [`last error: ${progress.lastError}`] : []),
  ].join('\n');
}
