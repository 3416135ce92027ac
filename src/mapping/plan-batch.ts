import type { StreamSync } from '../config/schema.ts';
import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { BATCH_ENVELOPE_BYTES, MAX_BATCH_BYTES, jsonBytes } from '../customerio/limits.ts';
import { mapRecord } from './map-record.ts';
import type { CioBatchOp } from './ops.ts';

export interface BatchPlan {
  /** Operations for one `/api/v2/batch` request, each with the seq of the record it came from. */
  ops: Array<{ seq: number; op: CioBatchOp }>;
  /** Records that are deliberately not sent, counted by reason. */
  filtered: Record<string, number>;
  deadLetters: Array<{ seq: number; record: CanonicalRecord; reason: string; detail?: string }>;
  /** The last record fully planned (sent, filtered or dead-lettered): where the cursor goes once sent. */
  lastSeq: number;
}

/**
 * Maps log records in order into one batch request. It stops before the first record whose operations
 * would push the serialized `{"batch":[...]}` body over `maxBytes`, so a record's operations always
 * travel in one request and the next delivery starts right after `lastSeq`.
 *
 * A record too big to fit even an empty batch is dead-lettered instead of stopping there: otherwise
 * the sync could never move past it.
 */
export function planBatch(
  loggedRecords: readonly LoggedRecord[],
  sync: StreamSync,
  maxBytes: number = MAX_BATCH_BYTES,
): BatchPlan {
  const first = loggedRecords[0];
  // An empty plan has no honest lastSeq, and a made-up one would move a cursor backwards.
  if (first === undefined) throw new RangeError('planBatch needs at least one record');
  const plan: BatchPlan = { ops: [], filtered: {}, deadLetters: [], lastSeq: first.seq };
  // Bytes of `{"batch":[...]}` so far: the envelope, each op, and a comma between two ops.
  let bytes = BATCH_ENVELOPE_BYTES;
  for (const { seq, sourceId, record } of loggedRecords) {
    const result = mapRecord(record, sync, sourceId);
    if (result.kind === 'filtered') {
      plan.filtered[result.reason] = (plan.filtered[result.reason] ?? 0) + 1;
    } else if (result.kind === 'dead_letter') {
      const { reason, detail } = result;
      plan.deadLetters.push(detail === undefined ? { seq, record, reason } : { seq, record, reason, detail });
    } else {
      let added = 0;
      let count = plan.ops.length;
      for (const op of result.ops) added += jsonBytes(op) + (count++ > 0 ? 1 : 0);
      if (bytes + added > maxBytes) {
        if (plan.ops.length > 0) break;
        plan.deadLetters.push({
          seq,
          record,
          reason: 'exceeds_batch_size',
          detail: `operations are ${added} bytes serialized, a batch holds ${maxBytes - BATCH_ENVELOPE_BYTES}`,
        });
      } else {
        bytes += added;
        for (const op of result.ops) plan.ops.push({ seq, op });
      }
    }
    plan.lastSeq = seq;
  }
  return plan;
}
