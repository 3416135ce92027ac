import type { Config, Destination, StreamSync } from '../config/schema.ts';
import { AUTO_GROW_BATCHES, maxLanesOf } from '../config/spec-rules.ts';
import { tryResolveEnv } from '../config/env.ts';
import { REGION_HOSTS } from '../customerio/hosts.ts';
import { MAX_BATCH_BYTES, jsonBytes } from '../customerio/limits.ts';
import { checkAmplitudeEvents, parseAmplitudeUpload, type AmplitudeItemErrors } from '../events/amplitude.ts';
import { fromAmplitudeEvent, fromSegment } from '../events/normalize.ts';
import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { isPlainObject } from '../json-values.ts';
import {
  parseSegmentBatch,
  parseSegmentCall,
  SEGMENT_TYPES,
  type SegmentParse,
  type SegmentProblem,
  type SegmentType,
} from '../events/segment.ts';
import { DEFAULT_LIMITS } from '../ingest/context.ts';
import { BARRIER, laneOf } from '../mapping/lanes.ts';
import { planBatch, settleUserSnapshots, type BatchPlan } from '../mapping/plan-batch.ts';
import type { UserSnapshot } from '../store/store.ts';

/**
 * `cio-sync preview`: what each stream sync of a config would send to Customer.io for a file of
 * sample calls, and why any call would not be sent. Pure — no Temporal, store or network — and built
 * from the code the engine runs: ingest's validation and normalization (src/events), then the
 * delivery's lane split (laneOf) and planBatch over the records as the log would hold them (seqs
 * 1..n per source), one delivery after another from cursor 0 (see previewStream).
 *
 * Two assumptions stand in for the world outside: Customer.io accepts every operation (so a user's
 * later identify is diffed against what the earlier one sent), and no user is known to the sync
 * before the file (no stored snapshots).
 */

/** A bad input file or line: the message starts with `file:line:`. */
export class PreviewInputError extends Error {
  override name = 'PreviewInputError';
}

export type InputShape = 'amplitude' | 'segment-batch' | 'segment-call';

/** One request body of the input file. */
export interface InputBody {
  /** `file:line` of the body (its first line for a file that is one JSON document). */
  ref: string;
  shape: InputShape;
  body: Record<string, unknown>;
}

const SHAPES_EXPECTED =
  'expected an Amplitude HTTP V2 body ({"api_key", "events": [...]}), a Segment batch ({"batch": [...]}) ' +
  `or a Segment call ({"type": ${SEGMENT_TYPES.join('|')}, …})`;

/**
 * Reads an input file: one JSON body (pretty-printed or not), or NDJSON with one body per line,
 * each line detected on its own so Amplitude and Segment calls can be mixed. Blank lines are skipped.
 */
export function parsePreviewInput(text: string, file: string): InputBody[] {
  if (text.trim() === '') throw new PreviewInputError(`${file}: the file is empty (${SHAPES_EXPECTED})`);
  let whole: unknown;
  let isWhole = false;
  try {
    whole = JSON.parse(text);
    isWhole = true;
  } catch {
    // Not one JSON document: read it as NDJSON below, which names the bad line.
  }
  if (isWhole) {
    const line = text.slice(0, text.length - text.trimStart().length).split('\n').length;
    return [classify(whole, `${file}:${line}`)];
  }
  const bodies: InputBody[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const ref = `${file}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new PreviewInputError(
        `${ref}: invalid JSON (${(err as Error).message}); the input is one JSON body, or NDJSON with one body per line`,
      );
    }
    bodies.push(classify(value, ref));
  });
  return bodies;
}

function classify(value: unknown, ref: string): InputBody {
  if (!isPlainObject(value)) throw new PreviewInputError(`${ref}: not a JSON object; ${SHAPES_EXPECTED}`);
  if ('events' in value) return { ref, shape: 'amplitude', body: value };
  if ('batch' in value) return { ref, shape: 'segment-batch', body: value };
  if (typeof value.type === 'string' && (SEGMENT_TYPES as readonly string[]).includes(value.type)) {
    return { ref, shape: 'segment-call', body: value };
  }
  const what =
    'type' in value ? `"type": ${JSON.stringify(value.type)} is no Segment call type` : 'no known shape';
  throw new PreviewInputError(`${ref}: ${what}; ${SHAPES_EXPECTED}`);
}

// --- The report -----------------------------------------------------------------------------

/** One call (an Amplitude event or a Segment call) of the input and what ingest made of it. */
export interface PreviewCall {
  /** `file:line`, plus `events[i]` / `batch[i]` for an item of a multi-call body. */
  ref: string;
  api: 'amplitude' | 'segment';
  /** Stored: the source's log and the seq it would get. */
  sourceId?: string;
  seq?: number;
  record?: CanonicalRecord;
  /** Not stored: ingest answers the request with an error and keeps none of it. */
  rejected?: { reason: string; message: string };
}

export interface PreviewRequest {
  method: 'POST';
  /** The delivery lane that sends it (records are split by person; see src/mapping/lanes.ts). */
  lane: number;
  /** Full URL when the host is known from the config; the path alone for `region: auto`. */
  url: string;
  body: { batch: object[] };
  bytes: number;
  /** The records whose operations it carries. */
  seqs: number[];
}

/** What became of one stored record in one sync, and which lane handled it. */
export type RecordOutcome = { seq: number; ref: string; lane: number } & (
  | { outcome: 'sent'; request: number; operations: number; deadLetters: Letter[] }
  | { outcome: 'filtered'; reason: string }
  | { outcome: 'dead_letter'; deadLetters: Letter[] }
);

export interface Letter {
  reason: string;
  detail?: string;
}

export interface SyncPreview {
  syncId: string;
  type: 'stream' | 'cohort';
  source?: string;
  destination: string;
  /** Delivery lanes (stream syncs; 1 for a cohort sync). */
  lanes: number;
  /** Why the sync would behave differently from the requests shown, or why none are shown. */
  notes: string[];
  requests: PreviewRequest[];
  records: RecordOutcome[];
  summary: { records: number; sent: number; filtered: Record<string, number>; deadLettered: number };
}

export interface PreviewReport {
  calls: PreviewCall[];
  syncs: SyncPreview[];
}

export interface PreviewOptions {
  /** The receive time given to every call (the time of an event that carries none). */
  now: number;
  /** Where source keys are resolved, as ingest resolves them. */
  env?: NodeJS.ProcessEnv;
  /** Store every call in this source's log, whatever key it carries (or lacks). */
  sourceId?: string;
}

export function previewCalls(
  config: Config,
  bodies: readonly InputBody[],
  options: PreviewOptions,
): PreviewReport {
  const { now } = options;
  const env = options.env ?? process.env;
  if (options.sourceId !== undefined && !config.sources.some((s) => s.id === options.sourceId)) {
    throw new PreviewInputError(
      `--source ${options.sourceId}: no such source (sources: ${config.sources.map((s) => s.id).join(', ') || 'none'})`,
    );
  }
  const sourceByKey = new Map<string, string>();
  for (const source of config.sources) {
    const key = tryResolveEnv(source.apiKey, env);
    if (key) sourceByKey.set(key, source.id);
  }

  const calls: PreviewCall[] = [];
  const logs = new Map<string, LoggedRecord[]>();
  for (const input of bodies) {
    const ingested = ingestBody(input, now);
    const routed = routeOf(input, config, sourceByKey, options.sourceId);
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

  const refOf = new Map<string, string>();
  for (const call of calls) if (call.seq !== undefined) refOf.set(`${call.sourceId}/${call.seq}`, call.ref);
  const syncs = config.syncs.map((sync): SyncPreview => {
    if (sync.type !== 'stream') {
      return {
        syncId: sync.id,
        type: 'cohort',
        destination: sync.destination,
        lanes: 1,
        notes: ['cohort syncs send cohort members from their own source, not calls: nothing to preview'],
        requests: [],
        records: [],
        summary: { records: 0, sent: 0, filtered: {}, deadLettered: 0 },
      };
    }
    const destination = config.destinations.find((d) => d.id === sync.destination)!;
    const log = logs.get(sync.source) ?? [];
    return previewStream(sync, destination, log, (seq) => refOf.get(`${sync.source}/${seq}`) ?? `seq ${seq}`);
  });
  return { calls, syncs };
}

/** Validation and normalization exactly as the ingest routes run them, per call of one body. */
function ingestBody(input: InputBody, now: number): PreviewCall[] {
  const { ref, shape, body } = input;
  if (shape === 'amplitude') {
    const events = Array.isArray(body.events) ? body.events : [];
    const item = (i: number) => (events.length === 1 ? ref : `${ref} events[${i}]`);
    const parsed = parseAmplitudeUpload(body);
    if (!parsed.ok) {
      const { error, missingField } = parsed.problem;
      const rejected = { reason: missingField ? 'missing_field' : 'invalid_body', message: error };
      return (events.length > 0 ? events : [undefined]).map((_, i) => ({
        ref: item(i),
        api: 'amplitude',
        rejected,
      }));
    }
    const { events: uploaded, minIdLength } = parsed.upload;
    const max = DEFAULT_LIMITS.amplitudeMaxEvents;
    if (uploaded.length > max) {
      const rejected = { reason: 'too_many_events', message: `more than ${max} events in one request` };
      return uploaded.map((_, i) => ({ ref: item(i), api: 'amplitude', rejected }));
    }
    const checked = checkAmplitudeEvents(uploaded, minIdLength);
    if (!checked.ok) {
      return uploaded.map((_, i) => {
        const message = amplitudeProblemsOf(checked.errors, i);
        return message === undefined
          ? { ref: item(i), api: 'amplitude' }
          : { ref: item(i), api: 'amplitude', rejected: { reason: 'invalid_events', message } };
      });
    }
    // No uploader address in a file: `ip: "$remote"` stays as sent.
    return checked.items.map((event, i) => ({
      ref: item(i),
      api: 'amplitude',
      record: fromAmplitudeEvent(event, now),
    }));
  }

  let parsed: SegmentParse;
  let items: unknown[];
  if (shape === 'segment-batch') {
    items = Array.isArray(body.batch) ? body.batch : [];
    const tooBig = segmentBatchLimits(items);
    parsed = tooBig ?? parseSegmentBatch(body);
  } else {
    items = [body];
    const bytes = Buffer.byteLength(JSON.stringify(body));
    parsed =
      bytes > DEFAULT_LIMITS.segmentCallBytes
        ? {
            ok: false,
            problems: [
              {
                field: 'body',
                message: `call is ${bytes} bytes, over the ${DEFAULT_LIMITS.segmentCallBytes} byte limit`,
              },
            ],
          }
        : parseSegmentCall(body, body.type as SegmentType);
  }
  const item = (i: number) => (shape === 'segment-batch' ? `${ref} batch[${i}]` : ref);
  if (!parsed.ok) {
    const general = parsed.problems.filter((p) => p.index === undefined);
    return (items.length > 0 ? items : [undefined]).map((_, i) => {
      const own = [...general, ...parsed.problems.filter((p) => p.index === i)];
      return own.length === 0
        ? { ref: item(i), api: 'segment' }
        : {
            ref: item(i),
            api: 'segment',
            rejected: { reason: 'invalid_events', message: describeProblems(own) },
          };
    });
  }
  return parsed.calls.map((call, i) => ({ ref: item(i), api: 'segment', record: fromSegment(call, now) }));
}

/** Segment's per-request limits, as the /v1/batch route checks them before parsing. */
function segmentBatchLimits(items: readonly unknown[]): SegmentParse | undefined {
  const { segmentMaxItems, segmentItemBytes } = DEFAULT_LIMITS;
  if (items.length > segmentMaxItems) {
    return {
      ok: false,
      problems: [{ field: 'batch', message: `more than ${segmentMaxItems} items in one batch` }],
    };
  }
  const problems: SegmentProblem[] = [];
  items.forEach((item, index) => {
    const bytes = Buffer.byteLength(JSON.stringify(item) ?? '');
    if (bytes > segmentItemBytes) {
      problems.push({
        index,
        field: 'item',
        message: `item is ${bytes} bytes, over the ${segmentItemBytes} byte limit`,
      });
    }
  });
  return problems.length > 0 ? { ok: false, problems } : undefined;
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
  const parts = [
    ['invalid', fields(errors.events_with_invalid_fields)],
    ['missing', fields(errors.events_with_missing_fields)],
    [`shorter than min_id_length`, fields(errors.events_with_invalid_id_lengths)],
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
): { sourceId: string } | { error: { reason: string; message: string } } {
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

function trackUrlOf(destination: Destination): string {
  if (destination.trackUrl !== undefined) return destination.trackUrl.replace(/\/+$/, '');
  return destination.region === 'auto' ? '' : REGION_HOSTS[destination.region].trackUrl;
}

/**
 * The deliveries of one stream sync over its source's records, as its lanes would run them
 * (src/activities/deliver-lane.ts): records split by person with laneOf; each lane takes up to
 * `delivery.maxRecords` of its own at a time, planned with planBatch (which may stop earlier at
 * 500 KB: the next request starts at the first record it left out); a barrier (an alias or group
 * call, with more than one lane) ends every lane's batch and is sent alone by lane 0 once every lane
 * has passed what comes before it. Lanes run side by side: requests are listed by segment between
 * barriers, then lane, and only the order within a lane is fixed.
 */
function previewStream(
  sync: StreamSync,
  destination: Destination,
  log: readonly LoggedRecord[],
  refOf: (seq: number) => string,
): SyncPreview {
  // An `auto` sync keeps one lane over a log it can send in a few requests (the one a preview shows,
  // most often), and grows when more than AUTO_GROW_BATCHES full requests wait.
  const growsAt = AUTO_GROW_BATCHES * sync.delivery.maxRecords;
  const auto = sync.delivery.lanes === 'auto';
  const lanes = auto && log.length <= growsAt ? 1 : maxLanesOf(sync.delivery.lanes);
  const notes: string[] = [];
  if (sync.status === 'paused')
    notes.push('paused: it sends nothing until resumed; shown as it would send then');
  if (destination.dryRun === true) {
    notes.push(
      `destination ${destination.id} is a dry run: the worker records these requests instead of sending them`,
    );
  } else if (destination.dryRun === 'auto') {
    notes.push(
      `destination ${destination.id} has dryRun: auto: recorded instead of sent when apply finds no credentials`,
    );
  }
  if (destination.region === 'auto' && destination.trackUrl === undefined) {
    notes.push(
      'region: auto: the host (track.customer.io or track-eu.customer.io) is asked of Customer.io at run time',
    );
  }
  if (auto && lanes > 1)
    notes.push(
      `lanes: auto, shown with ${lanes}: over ${growsAt} records (${AUTO_GROW_BATCHES} full requests) it grows to ${lanes} lanes once its first lane finds the backlog, and the requests that lane sent meanwhile are split differently; requests of different lanes are sent side by side, in no fixed order`,
    );
  else if (auto)
    notes.push(
      `lanes: auto: one lane, as for any log of up to ${growsAt} records (${AUTO_GROW_BATCHES} full requests)`,
    );
  else if (lanes > 1)
    notes.push(`${lanes} lanes: requests of different lanes are sent side by side, in no fixed order`);
  if (log.length === 0) notes.push(`no call of the input reaches source ${sync.source}`);

  const baseUrl = trackUrlOf(destination);
  const requests: PreviewRequest[] = [];
  const outcomes = new Map<number, RecordOutcome>();
  const filtered: Record<string, number> = {};
  // What the store would hold between deliveries. Lanes split people, so one map serves them all.
  const snapshots = new Map<string, UserSnapshot>();
  const suppressed = new Set<string>();

  /** One delivery: plans `batch`, explains each record it covers, returns the seqs it covered. */
  const deliver = (lane: number, batch: readonly LoggedRecord[]): number => {
    const plan = planBatch(batch, sync, MAX_BATCH_BYTES, snapshots, suppressed);
    const sentSeqs = new Set(plan.ops.map((o) => o.seq));
    const request = requests.length + 1;
    // planBatch counts filtered records by reason; a record's own reason comes from planning it
    // alone against the state as it stands before it in the batch (mapping is pure, so it decides
    // as it did inside the batch).
    const local = new Map(snapshots);
    const localSuppressed = new Set(suppressed);
    for (const logged of batch) {
      const { seq } = logged;
      if (seq > plan.lastSeq) break;
      const ref = refOf(seq);
      const letters = plan.deadLetters
        .filter((d) => d.seq === seq)
        .map(({ reason, detail }) => (detail === undefined ? { reason } : { reason, detail }));
      const alone = planBatch([logged], sync, MAX_BATCH_BYTES, local, localSuppressed);
      settle(alone, new Set(alone.ops.map((o) => o.seq)), local, localSuppressed);
      if (sentSeqs.has(seq)) {
        const operations = plan.ops.filter((o) => o.seq === seq).length;
        outcomes.set(seq, { seq, ref, lane, outcome: 'sent', request, operations, deadLetters: letters });
      } else if (letters.length > 0) {
        outcomes.set(seq, { seq, ref, lane, outcome: 'dead_letter', deadLetters: letters });
      } else {
        const reason = Object.keys(alone.filtered)[0] ?? 'filtered';
        filtered[reason] = (filtered[reason] ?? 0) + 1;
        outcomes.set(seq, { seq, ref, lane, outcome: 'filtered', reason });
      }
    }
    if (plan.ops.length > 0) {
      const body = { batch: plan.ops.map((o) => o.op) };
      requests.push({
        method: 'POST',
        url: `${baseUrl}/api/v2/batch`,
        lane,
        body,
        bytes: jsonBytes(body),
        seqs: [...sentSeqs],
      });
    }
    settle(plan, sentSeqs, snapshots, suppressed);
    return plan.lastSeq;
  };

  /** A lane's records of one segment, a request's worth at a time. */
  const deliverAll = (lane: number, records: readonly LoggedRecord[]) => {
    let rest = records;
    while (rest.length > 0) {
      const lastSeq = deliver(lane, rest.slice(0, sync.delivery.maxRecords));
      rest = rest.filter((r) => r.seq > lastSeq);
    }
  };

  let segment: LoggedRecord[] = [];
  const flush = () => {
    for (let lane = 0; lane < lanes; lane++)
      deliverAll(
        lane,
        segment.filter((r) => laneOf(r.record, sync, lanes) === lane),
      );
    segment = [];
  };
  for (const logged of log) {
    if (laneOf(logged.record, sync, lanes) !== BARRIER) {
      segment.push(logged);
      continue;
    }
    flush();
    deliverAll(0, [logged]);
  }
  flush();

  const records = [...outcomes.values()].sort((a, b) => a.seq - b.seq);
  return {
    syncId: sync.id,
    type: 'stream',
    source: sync.source,
    destination: sync.destination,
    lanes,
    notes,
    requests,
    records,
    summary: {
      records: records.length,
      sent: records.filter((r) => r.outcome === 'sent').length,
      filtered,
      deadLettered: records.filter((r) => r.outcome === 'dead_letter').length,
    },
  };
}

/**
 * What a delivery leaves in the store once Customer.io has accepted `sentSeqs`: accepted deletes and
 * suppressions first (they forget the person), then the batch's user snapshots, as deliverLane
 * settles them (settleDeletions, then settleUserSnapshots).
 */
function settle(
  plan: BatchPlan,
  sentSeqs: ReadonlySet<number>,
  snapshots: Map<string, UserSnapshot>,
  suppressed: Set<string>,
): void {
  for (const { seq, effect } of plan.deletions ?? []) {
    const key = effect.person?.key;
    if (!sentSeqs.has(seq) || key === undefined) continue;
    if (effect.kind === 'person_unsuppress') suppressed.delete(key);
    if (effect.kind === 'person_delete' || effect.kind === 'person_suppress') snapshots.delete(key);
    if (effect.kind === 'person_suppress') suppressed.add(key);
  }
  for (const entry of settleUserSnapshots(plan.users, sentSeqs)) snapshots.set(entry.userKey, entry.snapshot);
}

// --- Text output ----------------------------------------------------------------------------

/** The report for a terminal: per sync its requests (JSON bodies in full), then each record's fate. */
export function formatPreview(report: PreviewReport): string {
  const lines: string[] = [];
  const stored = report.calls.filter((c) => c.seq !== undefined);
  const rejected = report.calls.filter((c) => c.rejected !== undefined);
  lines.push(
    `${report.calls.length} call(s): ${stored.length} stored, ${rejected.length} rejected at ingest`,
  );
  for (const sync of report.syncs) {
    lines.push('');
    lines.push(
      sync.type === 'stream'
        ? `${sync.syncId} (stream: ${sync.source} → ${sync.destination})`
        : `${sync.syncId} (cohort → ${sync.destination})`,
    );
    for (const note of sync.notes) lines.push(`  note: ${note}`);
    sync.requests.forEach((request, i) => {
      const lane = sync.lanes > 1 ? ` (lane ${request.lane})` : '';
      lines.push(
        `  request ${i + 1}${lane}: ${request.method} ${request.url} (${request.body.batch.length} operation(s) from ${request.seqs.length} record(s), ${request.bytes} bytes)`,
      );
      for (const line of JSON.stringify(request.body, null, 2).split('\n')) lines.push(`    ${line}`);
    });
    for (const record of sync.records)
      lines.push(`  seq ${record.seq}  ${record.ref}  ${describeOutcome(record)}`);
    if (sync.type === 'stream') {
      const { sent, filtered, deadLettered } = sync.summary;
      const reasons = Object.entries(filtered).map(([reason, n]) => `${reason} ${n}`);
      const total = Object.values(filtered).reduce((a, b) => a + b, 0);
      lines.push(
        `  ${sync.requests.length} request(s): ${sent} record(s) sent, ${total} filtered${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}, ${deadLettered} dead-lettered`,
      );
    }
  }
  if (rejected.length > 0) {
    lines.push('');
    lines.push('rejected at ingest (answered with an error and never stored, so no sync sees them):');
    for (const call of rejected)
      lines.push(`  ${call.ref}  ${call.rejected!.reason}: ${call.rejected!.message}`);
  }
  return lines.join('\n');
}

function describeOutcome(record: RecordOutcome): string {
  const letters = (list: readonly Letter[]) =>
    list.map((l) => (l.detail === undefined ? l.reason : `${l.reason} (${l.detail})`)).join('; ');
  switch (record.outcome) {
    case 'sent':
      return `sent in request ${record.request} (${record.operations} operation(s))${record.deadLetters.length > 0 ? `; dead-lettered in part: ${letters(record.deadLetters)}` : ''}`;
    case 'filtered':
      return `filtered: ${record.reason}`;
    case 'dead_letter':
      return `dead-lettered: ${letters(record.deadLetters)}`;
  }
}
