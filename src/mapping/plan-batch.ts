/** A lane's records → Customer.io batch requests within the size limits, with the user snapshots they settle. */
import type { StreamSync } from '../config/schema.ts';
import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { BATCH_ENVELOPE_BYTES, MAX_BATCH_BYTES, jsonBytes } from '../customerio/limits.ts';
import type { UserSnapshot } from '../store/store.ts';
import { carriesUserProperties, userKey } from './identify-plan.ts';
import { readIdentifier, toCioIdentifiers } from './person-identifier.ts';
import { mapRecord } from './map-record.ts';
import { checkRecordLimits } from '../events/record-limits.ts';
import type { CioBatchOp, DeletionEffect, MapResult } from './ops.ts';
import { type UserProperties, applyPatch } from './amplitude-user-operations.ts';

/** One user's snapshot through a batch: as loaded, and what each of its records did to it. */
export interface PlannedUser {
  /** The stored snapshot the batch started from (absent: a user never seen). */
  base?: UserSnapshot;
  /** The snapshot once every identify of the user in the batch is accepted. */
  next: UserSnapshot;
  /** In log order: the record, what it makes true at Customer.io, and whether it has an identify. */
  updates: Array<{ seq: number; patch: UserProperties; withOp: boolean }>;
}

export interface BatchPlan {
  /** Operations for one `/api/v2/batch` request, each with the seq of the record it came from. */
  ops: Array<{ seq: number; op: CioBatchOp }>;
  /** Records that are deliberately not sent, counted by reason. */
  filtered: Record<string, number>;
  deadLetters: Array<{ seq: number; record: CanonicalRecord; reason: string; detail?: string }>;
  /** The last record fully planned (sent, filtered or dead-lettered): where the cursor goes once sent. */
  lastSeq: number;
  /** User forwarding: the snapshots to write once Customer.io has answered (see settleUserSnapshots). */
  users: Map<string, PlannedUser>;
  /**
   * Deletes and suppressions planned, in log order: applied locally once Customer.io accepted them.
   * Absent when the batch has none.
   */
  deletions?: Array<{ seq: number; effect: DeletionEffect }>;
}

/**
 * Maps log records in order into one batch request. It stops before the first record whose operations
 * would push the serialized `{"batch":[...]}` body over `maxBytes`, so a record's operations always
 * travel in one request and the next delivery starts right after `lastSeq`.
 *
 * A record too big to fit even an empty batch is dead-lettered instead of stopping there: otherwise
 * the sync could never move past it.
 *
 * `snapshots` are the stored snapshots of the batch's users (userKeysOf says whose to load). Updates of
 * one user build on each other in log order: the second sees the first as sent.
 */
export function planBatch(
  loggedRecords: readonly LoggedRecord[],
  sync: StreamSync,
  maxBytes: number = MAX_BATCH_BYTES,
  snapshots: ReadonlyMap<string, UserSnapshot> = new Map(),
  suppressed: ReadonlySet<string> = new Set(),
): BatchPlan {
  const first = loggedRecords[0];
  // An empty plan has no honest lastSeq, and a made-up one would move a cursor backwards.
  if (first === undefined) throw new RangeError('planBatch needs at least one record');
  const plan: BatchPlan = {
    ops: [],
    filtered: {},
    deadLetters: [],
    lastSeq: first.seq,
    users: new Map(),
  };
  const working = new Map(snapshots);
  // A delete or suppress earlier in the batch: the user's later records start from scratch, or wait.
  const workingSuppressed = new Set(suppressed);
  const forgotten = new Set<string>();
  // Bytes of `{"batch":[...]}` so far: the envelope, each op, and a comma between two ops.
  let bytes = BATCH_ENVELOPE_BYTES;
  for (const { seq, sourceId, record } of loggedRecords) {
    let result: MapResult;
    let added = 0;
    try {
      // Ingest enforces the same limits; a record logged before them (or by another writer) is
      // set aside here instead of reaching Customer.io or a walk that cannot handle it.
      const violation = checkRecordLimits(record);
      if (violation) throw new RecordLimitError(violation.message);
      result = mapRecord(record, sync, sourceId, { seq, snapshots: working, suppressed: workingSuppressed });
      let count = plan.ops.length;
      if (result.kind === 'send') for (const op of result.ops) added += jsonBytes(op) + (count++ > 0 ? 1 : 0);
    } catch (err) {
      // Whatever one record does to mapping (a value nested past every bound, a number no JSON can
      // hold), it alone is set aside; the rest of the batch goes on.
      result = { kind: 'dead_letter', reason: 'unprocessable', detail: describeError(err) };
    }
    let applied = true;
    if (result.kind === 'filtered') {
      plan.filtered[result.reason] = (plan.filtered[result.reason] ?? 0) + 1;
    } else if (result.kind === 'dead_letter') {
      const { reason, detail } = result;
      plan.deadLetters.push(detail === undefined ? { seq, record, reason } : { seq, record, reason, detail });
    } else {
      if (bytes + added > maxBytes) {
        if (plan.ops.length > 0) break;
        plan.deadLetters.push({
          seq,
          record,
          reason: 'exceeds_batch_size',
          detail: `operations are ${added} bytes serialized, a batch holds ${maxBytes - BATCH_ENVELOPE_BYTES}`,
        });
        // Nothing of it was sent: its user changes stay unapplied, so a redrive applies them.
        applied = false;
      } else {
        bytes += added;
        for (const op of result.ops) plan.ops.push({ seq, op });
        if (result.deletion !== undefined) {
          (plan.deletions ??= []).push({ seq, effect: result.deletion });
          forgetInPlan(result.deletion, plan, working, workingSuppressed, forgotten);
        }
        for (const { reason, detail } of result.deadLetters ?? []) {
          plan.deadLetters.push(
            detail === undefined ? { seq, record, reason } : { seq, record, reason, detail },
          );
        }
      }
    }
    if (applied && result.user !== undefined) {
      const { key, next, patch, withOp } = result.user;
      const base = forgotten.has(key) ? undefined : snapshots.get(key);
      const planned = plan.users.get(key) ?? { ...baseOf(base), next, updates: [] };
      planned.next = next;
      planned.updates.push({ seq, patch, withOp });
      plan.users.set(key, planned);
      working.set(key, next);
    }
    plan.lastSeq = seq;
  }
  return plan;
}

/** A logged record over the limits ingest enforces (src/events/record-limits.ts). */
class RecordLimitError extends Error {
  override name = 'RecordLimitError';
}

/** An error as one line for a dead letter's detail: its type and message, never a stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 500);
  return String(err).slice(0, 500);
}

/**
 * A person delete or suppress in the batch: Customer.io forgets the person, so the batch does too —
 * their later identifies start from an empty snapshot (a suppress also holds their later records back
 * until an unsuppress). What the batch planned for them before it is not kept.
 */
function forgetInPlan(
  effect: DeletionEffect,
  plan: BatchPlan,
  working: Map<string, UserSnapshot>,
  suppressed: Set<string>,
  forgotten: Set<string>,
): void {
  const key = effect.person?.key;
  if (key === undefined) return;
  if (effect.kind === 'person_unsuppress') {
    suppressed.delete(key);
    return;
  }
  if (effect.kind !== 'person_delete' && effect.kind !== 'person_suppress') return;
  if (effect.kind === 'person_suppress') suppressed.add(key);
  working.delete(key);
  plan.users.delete(key);
  forgotten.add(key);
}

function baseOf(base: UserSnapshot | undefined): { base?: UserSnapshot } {
  return base === undefined ? {} : { base };
}

/**
 * The user keys whose snapshots a batch of these records needs (the activity loads them first).
 * Resolved as mapRecord resolves them; a record that ends up not sending anything costs one row read.
 */
export function userKeysOf(loggedRecords: readonly LoggedRecord[], sync: StreamSync): string[] {
  const keys = new Set<string>();
  for (const { record } of loggedRecords) {
    try {
      if (!carriesUserProperties(record, sync)) continue;
      const value = readIdentifier(record, sync.identifier);
      if (value === undefined) continue;
      const resolved = toCioIdentifiers(value);
      if (resolved.ok) keys.add(userKey(resolved.identifiers));
    } catch {
      // planBatch dead-letters this record as unprocessable; it needs no snapshot.
    }
  }
  return [...keys];
}

/**
 * What to store for each user of a plan once Customer.io has answered. `state` and `seq` move on
 * whatever the answer: the operations happened at the source, and a retry must not apply them twice.
 * `attributes` takes in only what Customer.io accepted: when all of a user's identifies were
 * accepted that is the planned snapshot; otherwise the accepted records' patches, in order, over the
 * stored attributes — what a rejected identify carried stays unsent, and the user's next update (or a
 * redrive) sends it.
 */
export function settleUserSnapshots(
  users: ReadonlyMap<string, PlannedUser>,
  deliveredSeqs: ReadonlySet<number>,
): Array<{ userKey: string; snapshot: UserSnapshot }> {
  const entries: Array<{ userKey: string; snapshot: UserSnapshot }> = [];
  for (const [key, user] of users) {
    const accepted = (u: PlannedUser['updates'][number]) => !u.withOp || deliveredSeqs.has(u.seq);
    if (user.updates.every(accepted)) {
      entries.push({ userKey: key, snapshot: user.next });
      continue;
    }
    let attributes = user.base?.attributes ?? {};
    for (const update of user.updates)
      if (accepted(update)) attributes = applyPatch(attributes, update.patch);
    entries.push({ userKey: key, snapshot: { attributes, state: user.next.state, seq: user.next.seq } });
  }
  return entries;
}
