import {
  checkAmplitudeEvents,
  checkAmplitudeRecordLimits,
  parseAmplitudeUpload,
} from '../events/amplitude.ts';
import { fromAmplitudeEvent, fromSegment, type RequestInfo } from '../events/normalize.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { checkRecordLimits, checkValueLimits, type LimitViolation } from '../events/record-limits.ts';
import {
  parseSegmentBatch,
  parseSegmentCall,
  type SegmentProblem,
  type SegmentType,
} from '../events/segment.ts';
import { isPlainObject } from '../json-values.ts';
import type { IngestLimits } from './context.ts';
import { IngestError } from './errors.ts';

/**
 * What the Amplitude upload and Segment routes check of a request body once its key is known, and
 * the records they make of it. Pure (no Fastify, no store): the routes run these, and so does
 * `cio-sync preview` (src/control/preview/), so a file of calls is judged as ingest would judge it.
 * Each check throws the IngestError the route answers with; its detail names the bad items
 * (`itemErrors` for Amplitude, `problems` with an index for Segment).
 */

/** An `/2/httpapi` or `/batch` body, parsed JSON: its events as records, or the route's 400. */
export function amplitudeUploadRecords(
  json: unknown,
  limits: Pick<IngestLimits, 'amplitudeMaxEvents'>,
  receivedAt: number,
  request?: RequestInfo,
): CanonicalRecord[] {
  const parsed = parseAmplitudeUpload(json);
  if (!parsed.ok) {
    const { error, missingField } = parsed.problem;
    throw new IngestError(missingField ? 'missing_field' : 'invalid_body', error, { missingField });
  }
  const { events, minIdLength } = parsed.upload;
  if (events.length > limits.amplitudeMaxEvents) {
    throw new IngestError('too_many_events', `more than ${limits.amplitudeMaxEvents} events in one request`);
  }
  const checked = checkAmplitudeEvents(events, minIdLength);
  if (!checked.ok) {
    throw new IngestError('invalid_events', checked.errors.error, { itemErrors: checked.errors });
  }
  const records = checked.items.map((event) => fromAmplitudeEvent(event, receivedAt, request));
  checkAmplitudeRecords(records);
  return records;
}

/** Every record of an Amplitude request within the record limits, else a 400 naming the event indexes. */
export function checkAmplitudeRecords(records: readonly CanonicalRecord[]): void {
  const errors = checkAmplitudeRecordLimits(records);
  if (errors) throw new IngestError('invalid_events', errors.error, { itemErrors: errors });
}

/**
 * A Segment body, parsed JSON, of one call of `type` (`/v1/<type>`) or of a `batch` (`/v1/batch`):
 * its calls as records, or the route's 400.
 */
export function segmentRecords(
  body: unknown,
  call: SegmentType | 'batch',
  limits: Pick<IngestLimits, 'segmentMaxItems' | 'segmentItemBytes'>,
  receivedAt: number,
): CanonicalRecord[] {
  let parsed;
  if (call === 'batch') {
    checkBatchLimits(limits, body);
    parsed = parseSegmentBatch(body);
  } else {
    checkCallLimits(body);
    parsed = parseSegmentCall(body, call);
  }
  if (!parsed.ok) {
    throw new IngestError('invalid_events', describe(parsed.problems), { problems: parsed.problems });
  }
  const records = parsed.calls.map((c) => fromSegment(c, receivedAt));
  checkSegmentRecords(records, Array.isArray((body as { batch?: unknown }).batch));
  return records;
}

function describe(problems: SegmentProblem[]): string {
  const first = problems[0];
  if (!first) return 'invalid request';
  const where = first.index === undefined ? '' : `batch item ${first.index}: `;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return `${where}${first.field}: ${first.message}${more}`;
}

function limitProblem(found: LimitViolation, index: number | undefined): SegmentProblem {
  const field = found.path === '' ? (index === undefined ? 'body' : 'item') : found.path;
  return index === undefined ? { field, message: found.detail } : { index, field, message: found.detail };
}

function limitError(problems: SegmentProblem[], sizeOnly: boolean): IngestError {
  return new IngestError(sizeOnly ? 'payload_too_large' : 'invalid_events', describe(problems), { problems });
}

/** The normalized records (a batch's context merged in) against the record limits. */
function checkSegmentRecords(records: readonly CanonicalRecord[], batch: boolean): void {
  const problems: SegmentProblem[] = [];
  let sizeOnly = true;
  records.forEach((record, index) => {
    const found = checkRecordLimits(record);
    if (!found) return;
    sizeOnly &&= found.limit === 'record_size';
    problems.push(limitProblem(found, batch ? index : undefined));
  });
  if (problems.length > 0) throw limitError(problems, sizeOnly);
}

/**
 * One call's raw body against the record limits, before anything recursive walks it; its size
 * is already bounded by the route's body limit.
 */
function checkCallLimits(body: unknown): void {
  const found = checkValueLimits(body);
  if (found) throw limitError([limitProblem(found, undefined)], false);
}

/** Segment's per-item limits (and the record limits), checked on the raw items before they are parsed. */
function checkBatchLimits(
  limits: Pick<IngestLimits, 'segmentMaxItems' | 'segmentItemBytes'>,
  body: unknown,
): void {
  const batch = isPlainObject(body) ? body.batch : undefined;
  if (!Array.isArray(batch)) return;
  const { segmentMaxItems, segmentItemBytes } = limits;
  if (batch.length > segmentMaxItems) {
    throw new IngestError('too_many_events', `more than ${segmentMaxItems} items in one batch`);
  }
  const { batch: _items, ...envelope } = body as Record<string, unknown>;
  const shared = checkValueLimits(envelope);
  if (shared) throw limitError([limitProblem(shared, undefined)], false);
  const problems: SegmentProblem[] = [];
  let sizeOnly = true;
  batch.forEach((item, index) => {
    const found = checkValueLimits(item, { maxBytes: segmentItemBytes });
    if (!found) return;
    sizeOnly &&= found.limit === 'record_size';
    problems.push(limitProblem(found, index));
  });
  if (problems.length > 0) throw limitError(problems, sizeOnly);
}
