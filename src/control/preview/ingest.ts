import type { Config } from '../../config/schema.ts';
import type { AmplitudeItemErrors } from '../../events/amplitude.ts';
import type { LoggedRecord } from '../../events/record.ts';
import type { SegmentProblem, SegmentType } from '../../events/segment.ts';
import { DEFAULT_LIMITS } from '../../ingest/context.ts';
import { IngestError } from '../../ingest/errors.ts';
import { amplitudeUploadRecords, segmentRecords } from '../../ingest/request-checks.ts';
import type { InputBody, PreviewCall, Rejection } from './types.ts';

/**
 * The ingest side of a preview: each body of the input through the checks and normalization the
 * ingest routes run (src/ingest/request-checks.ts, with ingest's default limits), then into its
 * source's log as ingest would store it: seqs 1..n per source, a request's calls all or none.
 */

/** The stored records of each source, and every call with what became of it. */
export function ingestBodies(
  config: Config,
  bodies: readonly InputBody[],
  now: number,
  sourceByKey: ReadonlyMap<string, string>,
  forced: string | undefined,
): { calls: PreviewCall[]; logs: Map<string, LoggedRecord[]> } {
  const calls: PreviewCall[] = [];
  const logs = new Map<string, LoggedRecord[]>();
  for (const input of bodies) {
    const ingested = ingestBody(input, now);
    const routed = routeOf(input, config, sourceByKey, forced);
    // Ingest checks the key before the body: a request with an unknown key is refused as that.
    if ('error' in routed) for (const call of ingested) call.rejected = routed.error;
    // Ingest stores a request's calls all together or not at all.
    const stored = ingested.every((c) => c.rejected === undefined) && 'sourceId' in routed;
    if (!stored) {
      for (const call of ingested) {
        call.rejected ??= {
          reason: 'invalid_events',
          message: 'not stored: another call of the same request is invalid, and ingest keeps none of it',
        };
        delete call.record;
      }
    } else {
      const log = logs.get(routed.sourceId) ?? [];
      logs.set(routed.sourceId, log);
      for (const call of ingested) {
        call.sourceId = routed.sourceId;
        call.seq = log.length + 1;
        log.push({ seq: call.seq, sourceId: routed.sourceId, receivedAt: now, record: call.record! });
      }
    }
    calls.push(...ingested);
  }
  return { calls, logs };
}

/** The body limit of the route each shape is sent to (/2/httpapi, /v1/batch, /v1/<type>). */
const BODY_LIMITS = {
  amplitude: DEFAULT_LIMITS.amplitudeHttpApiBytes,
  'segment-batch': DEFAULT_LIMITS.segmentBatchBytes,
  'segment-call': DEFAULT_LIMITS.segmentCallBytes,
} as const;

/** One body through the route's checks, per call: its record, or why ingest refuses it. */
function ingestBody(input: InputBody, now: number): PreviewCall[] {
  const { ref, shape, body } = input;
  const api = shape === 'amplitude' ? 'amplitude' : 'segment';
  const list = shape === 'amplitude' ? body.events : shape === 'segment-batch' ? body.batch : [body];
  const items: unknown[] = Array.isArray(list) ? list : [];
  const item = (i: number) =>
    shape === 'segment-call'
      ? ref
      : shape === 'segment-batch'
        ? `${ref} batch[${i}]`
        : items.length === 1
          ? ref
          : `${ref} events[${i}]`;
  try {
    const bytes = Buffer.byteLength(JSON.stringify(body));
    if (bytes > BODY_LIMITS[shape]) {
      throw new IngestError(
        'payload_too_large',
        `request body is over the size limit (${bytes} bytes, over ${BODY_LIMITS[shape]})`,
      );
    }
    // No uploader address in a file: `ip: "$remote"` stays as sent.
    const records =
      shape === 'amplitude'
        ? amplitudeUploadRecords(body, DEFAULT_LIMITS, now)
        : segmentRecords(
            body,
            shape === 'segment-batch' ? 'batch' : (body.type as SegmentType),
            DEFAULT_LIMITS,
            now,
          );
    return records.map((record, i) => ({ ref: item(i), api, record }));
  } catch (err) {
    if (!(err instanceof IngestError)) throw err;
    const rejections = rejectionsOf(err, Math.max(items.length, 1));
    return rejections.map((rejected, i) =>
      rejected === undefined ? { ref: item(i), api } : { ref: item(i), api, rejected },
    );
  }
}

/**
 * Ingest's error, per call of the request: the calls its detail names get their own problems (the
 * others none: they are refused only with them); an error that names none refuses every call.
 */
function rejectionsOf(err: IngestError, count: number): Array<Rejection | undefined> {
  const { itemErrors, problems } = err.detail;
  const own = (i: number): string | undefined => {
    if (itemErrors) return amplitudeProblemsOf(itemErrors, i);
    if (problems) {
      const mine = [
        ...problems.filter((p) => p.index === undefined),
        ...problems.filter((p) => p.index === i),
      ];
      return mine.length === 0 ? undefined : describeProblems(mine);
    }
    return undefined;
  };
  const messages = Array.from({ length: count }, (_, i) => own(i));
  if (messages.every((m) => m === undefined))
    return messages.map(() => ({ reason: err.reason, message: err.message }));
  return messages.map((message) => (message === undefined ? undefined : { reason: err.reason, message }));
}

function describeProblems(problems: readonly SegmentProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join('; ');
}

/** One event's entries in Amplitude's error maps, as one line; undefined when it has none. */
function amplitudeProblemsOf(errors: AmplitudeItemErrors, index: number): string | undefined {
  const fields = (map: Record<string, number[]>) =>
    Object.entries(map)
      .filter(([, indexes]) => indexes.includes(index))
      .map(([field]) => field);
  const over = errors.events_over_limits?.[String(index)];
  const parts = [
    ['invalid', fields(errors.events_with_invalid_fields)],
    ['missing', fields(errors.events_with_missing_fields)],
    [`shorter than min_id_length`, fields(errors.events_with_invalid_id_lengths)],
    ['over the record limits', over === undefined ? [] : [over]],
  ] as const;
  const found = parts
    .filter(([, list]) => list.length > 0)
    .map(([what, list]) => `${what}: ${list.join(', ')}`);
  return found.length === 0 ? undefined : found.join('; ');
}

/** Which source's log a body goes to: its key, as ingest resolves it, unless --source says. */
function routeOf(
  input: InputBody,
  config: Config,
  sourceByKey: ReadonlyMap<string, string>,
  forced: string | undefined,
): { sourceId: string } | { error: Rejection } {
  if (forced !== undefined) return { sourceId: forced };
  const field = input.shape === 'amplitude' ? 'api_key' : 'writeKey';
  const key = input.body[field];
  if (typeof key === 'string' && key !== '') {
    const sourceId = sourceByKey.get(key);
    if (sourceId !== undefined) return { sourceId };
    return {
      error: {
        reason: 'invalid_api_key',
        message: `${field} matches no source of the config (as resolved from this environment); pass --source to preview it anyway`,
      },
    };
  }
  // A file has no Authorization header, where Segment clients send the write key: with one source
  // there is only one place a call can go.
  const only = config.sources.length === 1 ? config.sources[0] : undefined;
  if (only !== undefined) return { sourceId: only.id };
  return {
    error: {
      reason: 'missing_api_key',
      message: `no ${field}, and the config has ${config.sources.length} sources: pass --source`,
    },
  };
}
