import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';

import type { createActivities } from '../activities/index.ts';
import {
  BACKFILL_ERRORS,
  backfillProgressQuery,
  emptyTally,
  type BackfillChunkInput,
  type BackfillInput,
  type BackfillProgress,
  type BackfillTally,
} from './backfill-definitions.ts';
import { pauseSignal, resumeSignal } from './sync-api.ts';

/**
 * A backfill: one source's Amplitude history, read from the Export API (a range of upload hours,
 * asked for a few hours per request) or from an export zip, appended to the source's log so its
 * syncs deliver it like any other records. The activity records each finished hour in the store and
 * heartbeats how far into the export it is, so a killed worker's retry resumes there, and a second
 * run of the same range finds every hour finished. Pause (signal) cancels the request under way and
 * later asks for it again; cancel (Temporal's) stops it for good. Sandbox-pure.
 */

type Activities = ReturnType<typeof createActivities>;

const { backfillExport } = proxyActivities<Activities>({
  // Amplitude may take minutes to prepare a large export; the activity heartbeats while it waits
  // and reads, so a dead worker is noticed within the heartbeat timeout.
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '30 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 20,
    nonRetryableErrorTypes: Object.values(BACKFILL_ERRORS),
  },
});

/** `2026-11-01T05` for an export hour (hours since the epoch): the form the CLI takes and prints. */
export function hourLabel(hour: number): string {
  return new Date(hour * 3_600_000).toISOString().slice(0, 13);
}

function addTally(into: BackfillTally, more: BackfillTally): void {
  for (const key of Object.keys(into) as Array<keyof BackfillTally>) into[key] += more[key];
}

/** The request ranges of a backfill, in upload order. */
export function requestRanges(from: number, to: number, hoursPerRequest: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let start = from; start <= to; start += hoursPerRequest) {
    ranges.push([start, Math.min(to, start + hoursPerRequest - 1)]);
  }
  return ranges;
}

/** Halves a range the Export API found over its size limit; undefined for a single hour. */
export function splitRange([from, to]: [number, number]): Array<[number, number]> | undefined {
  if (to <= from) return undefined;
  const middle = from + Math.floor((to - from + 1) / 2);
  return [
    [from, middle - 1],
    [middle, to],
  ];
}

export function backfillDetails(progress: BackfillProgress): string {
  const t = progress.tally;
  const what = progress.range
    ? `upload hours ${progress.range.from} … ${progress.range.to}`
    : `file ${progress.file ?? ''}`;
  const lines = [
    `**${progress.status}** · backfill of ${progress.sourceId} · ${what}`,
    `- hours ${t.hours}${progress.hoursTotal === undefined ? '' : ` of ${progress.hoursTotal}`}` +
      ` (${t.skippedHours} finished before)`,
    `- rows ${t.records}: appended ${t.appended}, already in the log ${t.duplicates}, refused ${t.invalid}`,
  ];
  if (progress.current) lines.push(`- reading ${progress.current.from} … ${progress.current.to}`);
  if (progress.lastError) lines.push(`- last error: ${progress.lastError.replace(/\s+/g, ' ')}`);
  return lines.join('\n');
}

function failureType(err: unknown): string | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

function messageOf(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

export async function backfillWorkflow(input: BackfillInput): Promise<BackfillProgress> {
  const progress: BackfillProgress = {
    status: 'running',
    sourceId: input.source.sourceId,
    tally: emptyTally(),
    startedAt: new Date().toISOString(),
    ...(input.file !== undefined && { file: input.file }),
    ...(input.range && {
      range: { from: hourLabel(input.range.from), to: hourLabel(input.range.to) },
      hoursTotal: input.range.to - input.range.from + 1,
    }),
  };
  const publish = () => setCurrentDetails(backfillDetails(progress));
  let paused = false;
  /** The request under way, cancelled by a pause. */
  let request: CancellationScope | undefined;
  setHandler(backfillProgressQuery, () => progress);
  setHandler(pauseSignal, () => {
    paused = true;
    request?.cancel();
  });
  setHandler(resumeSignal, () => void (paused = false));
  publish();

  const chunkInput = (range?: [number, number]): BackfillChunkInput => ({
    source: input.source,
    recordsPerSecond: input.recordsPerSecond,
    force: input.force,
    runId: workflowInfo().workflowId,
    ...(range ? { range: { from: range[0], to: range[1] } } : { file: input.file }),
  });

  /** One request, run until done: a pause cancels it and runs it again on resume. */
  async function runChunk(range?: [number, number]): Promise<void> {
    for (;;) {
      await waitWhilePaused();
      progress.current = range && { from: hourLabel(range[0]), to: hourLabel(range[1]) };
      publish();
      request = new CancellationScope();
      try {
        const tally = await request.run(() =>
          backfillExport.executeWithOptions(
            {
              summary: range
                ? `export ${hourLabel(range[0])} … ${hourLabel(range[1])}`
                : `file ${input.file}`,
            },
            [chunkInput(range)],
          ),
        );
        addTally(progress.tally, tally);
        return;
      } catch (err) {
        if (!(paused && isCancellation(err))) throw err;
      } finally {
        request = undefined;
      }
    }
  }

  async function waitWhilePaused(): Promise<void> {
    if (!paused) return;
    progress.status = 'paused';
    publish();
    await condition(() => !paused);
    progress.status = 'running';
    publish();
  }

  try {
    if (input.range) await runRanges(requestRanges(input.range.from, input.range.to, input.hoursPerRequest));
    else await runChunk();
    progress.status = 'completed';
  } catch (err) {
    progress.status = isCancellation(err) ? 'cancelled' : 'failed';
    progress.lastError = isCancellation(err) ? 'cancelled' : messageOf(err);
    throw err;
  } finally {
    progress.current = undefined;
    progress.finishedAt = new Date().toISOString();
    publish();
  }
  return progress;

  async function runRanges(queue: Array<[number, number]>): Promise<void> {
    while (queue.length > 0) {
      const range = queue.shift()!;
      try {
        await runChunk(range);
      } catch (err) {
        const halves = failureType(err) === BACKFILL_ERRORS.tooLarge ? splitRange(range) : undefined;
        if (!halves) throw err;
        progress.lastError = `${hourLabel(range[0])} … ${hourLabel(range[1])} over the Export API's 4 GB: split`;
        queue.unshift(...halves);
      }
    }
  }
}
