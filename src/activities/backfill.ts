import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ApplicationFailure, Context, log } from '@temporalio/activity';

import { downloadExport, ExportApiError } from '../backfill/export-api.ts';
import { exportHourOfMs, exportHourToMs } from '../backfill/export-hours.ts';
import { ExportFormatError, readExportZip, type ExportRecord } from '../backfill/export-zip.ts';
import { MissingEnvError } from '../config/env.ts';
import {
  backfillFilePath,
  overrideProblem,
  resolveAllowed,
  workerEnvPolicy,
  WORKER_ENV_SETTINGS,
  type WorkerEnvPolicy,
} from '../config/worker-env.ts';
import { exportRowProblem, fromAmplitudeExport } from '../events/amplitude-export.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { checkRecordLimits } from '../events/record-limits.ts';
import {
  BACKFILL_ERRORS,
  emptyTally,
  type BackfillChunkInput,
  type BackfillSourceRef,
  type BackfillTally,
} from '../workflows/backfill-definitions.ts';
import type { ActivityDeps } from './deps.ts';

/**
 * The backfill activity: one Export API request (or one export zip), streamed from disk member by
 * member into the source's log. Records are appended in windows sorted by event time, only those
 * whose insert id the log does not hold yet; each finished upload hour is recorded in the store,
 * and the index reached is heartbeated so a retry on another worker goes on from there.
 */

/** Records sorted and appended together: the log comes out in time order within each window. */
const WINDOW = 5000;
const HEARTBEAT_MS = 1000;

interface Resume {
  index: number;
  tally: BackfillTally;
}

function fail(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** The Export API's Basic credentials and host, as this worker allows them. */
function exportAccess(source: BackfillSourceRef, env: NodeJS.ProcessEnv, policy: WorkerEnvPolicy) {
  const resolve = (value: string, field: string) =>
    resolveAllowed(
      value,
      `source ${source.sourceId} ${field}`,
      env,
      policy.cohortVariables,
      WORKER_ENV_SETTINGS.cohortVariables,
    );
  if (source.secretKey === undefined) {
    throw fail(
      BACKFILL_ERRORS.config,
      `source ${source.sourceId} has no secretKey: the Export API needs the project's secret key`,
    );
  }
  if (source.exportUrl !== undefined) {
    const problem = overrideProblem(source.exportUrl, 'exportUrl', policy);
    if (problem) throw fail(BACKFILL_ERRORS.config, problem);
  }
  try {
    return {
      apiKey: resolve(source.apiKey, 'apiKey'),
      secretKey: resolve(source.secretKey, 'secretKey'),
      region: source.region,
      ...(source.exportUrl !== undefined && { baseUrl: source.exportUrl }),
    };
  } catch (err) {
    if (err instanceof MissingEnvError) throw fail(BACKFILL_ERRORS.config, err.message);
    throw err;
  }
}

function classifyExportError(err: unknown): unknown {
  if (err instanceof ExportFormatError) return fail(BACKFILL_ERRORS.format, err.message);
  if (!(err instanceof ExportApiError)) return err;
  if (err.kind === 'too_large') return fail(BACKFILL_ERRORS.tooLarge, err.message);
  if (err.kind === 'credentials') return fail(BACKFILL_ERRORS.credentials, err.message);
  if (err.kind === 'bad_request') return fail(BACKFILL_ERRORS.request, err.message);
  return err;
}

/** Paces appends to `perSecond` records, measured from the start of the request. */
function pacer(perSecond: number) {
  const started = Date.now();
  let sent = 0;
  return async (records: number, signal: AbortSignal) => {
    sent += records;
    const due = started + (sent / perSecond) * 1000;
    const wait = due - Date.now();
    if (wait > 5) await sleep(wait, undefined, { signal });
  };
}

/** An export row → its record, or why it is refused (logged and counted, never silently dropped). */
function recordOf(row: ExportRecord, receivedAt: number): CanonicalRecord | string {
  const problem = exportRowProblem(row.record);
  if (problem) return `${problem.field}: ${problem.message}`;
  const record = fromAmplitudeExport(row.record, { receivedAt, historical: true });
  // The record is the row less its empty columns, plus a few short fields: the line bounds its size.
  const over = checkRecordLimits(record, row.bytes + 512);
  return over ? over.message : record;
}

class HourAppender {
  readonly tally: BackfillTally;
  readonly #deps: ActivityDeps;
  readonly #input: BackfillChunkInput;
  readonly #done: Set<number>;
  readonly #pace: ReturnType<typeof pacer>;
  #window: CanonicalRecord[] = [];
  /** The index after the last row taken, and after the last row whose record is in the log. */
  #taken: number;
  resumeIndex: number;
  /** The tally as of `resumeIndex`: what a retry starting there has already counted. */
  resumeTally: BackfillTally;
  #hour: number | undefined;
  #hourCounts = { records: 0, appended: 0 };

  constructor(deps: ActivityDeps, input: BackfillChunkInput, done: Set<number>, resume: Resume | undefined) {
    this.#deps = deps;
    this.#input = input;
    this.#done = done;
    this.tally = resume?.tally ?? emptyTally();
    this.#pace = pacer(input.recordsPerSecond);
    this.#taken = this.resumeIndex = resume?.index ?? 0;
    this.resumeTally = { ...this.tally };
  }

  #settle(index: number): void {
    this.resumeIndex = index;
    this.resumeTally = { ...this.tally };
  }

  /** Takes one row; resolves once any full window is in the log. */
  async add(row: ExportRecord, signal: AbortSignal): Promise<void> {
    if (row.hour !== this.#hour) await this.finishHour(signal);
    this.#hour = row.hour;
    this.#take(row);
    this.#taken = row.index + 1;
    if (this.#window.length === 0) this.#settle(this.#taken);
    if (this.#window.length >= WINDOW) await this.flush(signal);
  }

  #take(row: ExportRecord): void {
    if (this.#done.has(row.hour)) return;
    this.tally.records++;
    this.#hourCounts.records++;
    const record = recordOf(row, Date.now());
    if (typeof record !== 'string') return void this.#window.push(record);
    this.tally.invalid++;
    log.warn('backfill: export row refused', { member: row.member, line: row.line, reason: record });
  }

  async flush(signal: AbortSignal): Promise<void> {
    if (this.#window.length === 0) return;
    const window = this.#window.sort((a, b) => a.time - b.time);
    this.#window = [];
    const taken = this.#taken;
    const { seqs, skipped } = await this.#deps.store.appendNew(this.#input.source.sourceId, window);
    this.tally.appended += seqs.length;
    this.tally.duplicates += skipped.length;
    this.#hourCounts.appended += seqs.length;
    this.#settle(taken);
    await this.#pace(window.length, signal);
  }

  /** Appends what is left of the current hour and records it as finished. */
  async finishHour(signal: AbortSignal): Promise<void> {
    if (this.#hour === undefined || this.#done.has(this.#hour)) return;
    await this.flush(signal);
    await this.markDone(this.#hour, this.#hourCounts);
    this.#hourCounts = { records: 0, appended: 0 };
  }

  async markDone(hour: number, counts: { records: number; appended: number }): Promise<void> {
    await this.#deps.store.markHourDone(this.#input.source.sourceId, exportHourToMs(hour), {
      ...counts,
      runId: this.#input.runId,
    });
    this.#done.add(hour);
    this.tally.hours++;
    this.resumeTally = { ...this.tally };
  }
}

function hoursOf(range: { from: number; to: number }): number[] {
  return Array.from({ length: range.to - range.from + 1 }, (_, i) => range.from + i);
}

async function finishedHours(deps: ActivityDeps, input: BackfillChunkInput): Promise<Set<number>> {
  const { range, source, force } = input;
  if (!range) return new Set();
  const from = exportHourToMs(range.from);
  const to = exportHourToMs(range.to);
  if (force) {
    await deps.store.forgetHours(source.sourceId, from, to);
    return new Set();
  }
  const done = await deps.store.doneHours(source.sourceId, from, to);
  return new Set([...done.keys()].map(exportHourOfMs));
}

/** Downloads the request's zip (or takes the user's file): a path to read, or none for an empty range. */
async function exportZip(
  deps: ActivityDeps,
  input: BackfillChunkInput,
  directory: string,
  heartbeat: () => void,
): Promise<string | undefined> {
  const policy = workerEnvPolicy(deps.env);
  if (input.file !== undefined) {
    const path = backfillFilePath(input.file, policy);
    if (!path.ok) throw fail(BACKFILL_ERRORS.config, path.message);
    return path.path;
  }
  const download = await downloadExport({
    ...exportAccess(input.source, deps.env, policy),
    from: input.range!.from,
    to: input.range!.to,
    directory,
    signal: Context.current().cancellationSignal,
    onProgress: heartbeat,
  });
  return download.kind === 'zip' ? download.path : undefined;
}

export async function backfillExport(deps: ActivityDeps, input: BackfillChunkInput): Promise<BackfillTally> {
  const ctx = Context.current();
  const resume = ctx.info.heartbeatDetails as Resume | undefined;
  const done = await finishedHours(deps, input);
  const appender = new HourAppender(deps, input, done, resume);
  const skippedBefore = input.range ? hoursOf(input.range).filter((h) => done.has(h)).length : 0;
  if (!resume) {
    appender.tally.hours += skippedBefore;
    appender.tally.skippedHours = skippedBefore;
  }
  if (input.range && skippedBefore === hoursOf(input.range).length) return appender.tally;

  const heartbeat = () =>
    ctx.heartbeat({ index: appender.resumeIndex, tally: appender.resumeTally } satisfies Resume);
  const timer = setInterval(heartbeat, HEARTBEAT_MS);
  const directory = await mkdtemp(join(tmpdir(), 'cio-sync-backfill-'));
  try {
    heartbeat();
    const path = await exportZip(deps, input, directory, heartbeat).catch((err) => {
      throw classifyExportError(err);
    });
    if (path !== undefined) {
      for await (const row of readExportZip(path, { from: appender.resumeIndex })) {
        await appender.add(row, ctx.cancellationSignal);
      }
      await appender.finishHour(ctx.cancellationSignal);
    }
    for (const hour of input.range ? hoursOf(input.range) : []) {
      if (!done.has(hour)) await appender.markDone(hour, { records: 0, appended: 0 });
    }
    return appender.tally;
  } catch (err) {
    throw classifyExportError(err);
  } finally {
    clearInterval(timer);
    await rm(directory, { recursive: true, force: true });
  }
}
