/** User forwarding: an identify-bearing record and the user's snapshot → the Customer.io identify of what changed. */
import type { StreamSync } from '../config/schema.ts';
import {
  MAX_ATTRIBUTES,
  MAX_ATTRIBUTE_NAME_BYTES,
  MAX_ATTRIBUTE_VALUE_BYTES,
  MAX_BATCH_ITEM_BYTES,
  attributeValueBytes,
  jsonBytes,
  utf8Bytes,
} from '../customerio/limits.ts';
import type { CanonicalRecord } from '../events/record.ts';
import type { UserSnapshot } from '../store/store.ts';
import { identifierValue } from './person-identifier.ts';
import type { PersonIdentifiers, PersonIdentifyOp, UserUpdate } from './ops.ts';
import { toUnixSeconds, unixSeconds } from './timestamps.ts';
import {
  type UserProperties,
  type UserPropertiesMode,
  applyPatch,
  applyUserProperties,
  changedProperties,
  jsonEqual,
} from './amplitude-user-operations.ts';
import { isPlainObject, objectAt, setOwn } from '../json-values.ts';

/**
 * User forwarding: an identify-bearing record + what the engine remembers of the user (its
 * snapshot) → at most one Customer.io `identify` carrying only the selected attributes that changed
 * since Customer.io last accepted them, as absolute values, and the user's next snapshot.
 *
 * Which records: Segment `identify`, Amplitude `$identify` events and Identify API calls, and
 * Amplitude events with `user_properties` (HTTP V2) — Amplitude's "Send Users".
 *
 * No root `timestamp`: Customer.io drops an attribute update older than the profile's last edit, so a
 * client clock running ahead would silently block later updates; per-user delivery order already puts
 * updates in sequence.
 */

export interface IdentifyOutcome {
  op?: PersonIdentifyOp;
  user?: UserUpdate;
  /** Why no identify is sent, when none is (and nothing was dead-lettered). */
  filtered?: string;
  /** Attributes left out for Customer.io's limits; the rest (if any) is in `op`. */
  deadLetter?: { reason: string; detail: string };
}

/** The users a batch is planned with: their stored (or in-batch) snapshots, and the record's seq. */
export interface UserContext {
  seq: number;
  snapshots: ReadonlyMap<string, UserSnapshot>;
  /** User keys suppressed in this sync (as of this record): nothing about them is sent. */
  suppressed?: ReadonlySet<string>;
}

/**
 * Traits Segment's Customer.io destination always forwards on identify, because they are about who
 * the person is rather than optional data: `email` (a userId plus an email trait sets both), the
 * signup date and the unsubscribe flag (Segment's Customer.io destination docs).
 */
const SEGMENT_RESERVED_TRAITS = ['email', 'created_at', 'unsubscribed'];

/** Reason a record is dead-lettered (alongside what was sent) for attributes over Customer.io's limits. */
export const OVER_LIMITS = 'attributes_over_limits';

/**
 * One user per Customer.io identifier. Emails are lower-cased: Customer.io matches them without
 * regard to case, so `Ann@x.io` and `ann@x.io` are one person with one snapshot.
 */
export function userKey(identifiers: PersonIdentifiers): string {
  if ('email' in identifiers) return `email:${identifiers.email.toLowerCase()}`;
  if ('cio_id' in identifiers) return `cio_id:${identifiers.cio_id}`;
  return `id:${identifiers.id}`;
}

/** Whether user forwarding looks at this record at all (identify calls, Amplitude user properties). */
export function carriesUserProperties(record: CanonicalRecord, sync: StreamSync): boolean {
  if (!sync.users.send) return false;
  if (record.kind === 'identify') return true;
  return (
    record.origin === 'amplitude' &&
    (record.kind === 'track' || record.kind === 'page' || record.kind === 'screen') &&
    isPlainObject(record.user_properties) &&
    Object.keys(record.user_properties).length > 0
  );
}

/**
 * History never rolls a person back. A historical record (a backfill) applies only to a user whose
 * snapshot holds nothing but history no newer than it; once live traffic was applied, that is the
 * present. (A backfill overlaps live webhook traffic by design: the export lags two hours.)
 */
export function olderThanPresent(record: CanonicalRecord, snapshot: UserSnapshot | undefined): boolean {
  if (record.historical !== true || snapshot === undefined) return false;
  return snapshot.historyTime === undefined || record.time < snapshot.historyTime;
}

/** The snapshot's history mark after this record: kept on a retry, set by history, cleared by live. */
function historyTimeAfter(record: CanonicalRecord, snapshot: UserSnapshot | undefined, applied: boolean) {
  if (applied) return snapshot?.historyTime;
  return record.historical === true ? record.time : undefined;
}

export function planIdentify(
  record: CanonicalRecord,
  sync: StreamSync,
  identifiers: PersonIdentifiers,
  users: UserContext,
): IdentifyOutcome {
  const key = userKey(identifiers);
  const snapshot = users.snapshots.get(key);
  if (olderThanPresent(record, snapshot)) return { filtered: 'history_older_than_present' };
  const segment = record.origin === 'segment';
  const tracked = trackedBy(record, sync, identifiers);

  // A record the snapshot already holds (a delivery retried after its snapshot was written, a
  // replay, a redrive) is not applied again — `$add` would count twice — but what Customer.io still
  // lacks of the current state is sent.
  const applied = snapshot !== undefined && users.seq <= snapshot.seq;
  let state: UserProperties;
  if (applied) {
    state = snapshot.state;
  } else {
    const props = segment ? segmentTraits(record.user_properties) : record.user_properties;
    state = applyUserProperties(snapshot?.state ?? {}, props, modeOf(record), tracked);
    const anonymousId = identifierValue(record.anonymous_id);
    // Customer.io attaches earlier anonymous events to the person who gets their anonymous_id, so an
    // anonymous sync would be pointless without it. (Customer.io wants the value unique to one person.)
    if (sync.anonymous && anonymousId !== undefined) setOwn(state, 'anonymous_id', anonymousId);
  }
  const sent = snapshot?.attributes ?? {};
  const seq = applied ? snapshot.seq : users.seq;
  const changed = changedProperties(sent, state, tracked);
  // Segment's destination creates the person on their first identify even without traits.
  const create = segment && snapshot === undefined;

  const stateChanged =
    snapshot === undefined ? Object.keys(state).length > 0 : !jsonEqual(state, snapshot.state);
  const historyTime = historyTimeAfter(record, snapshot, applied);
  const next = (patch: UserProperties): UserSnapshot => ({
    attributes: applyPatch(sent, patch),
    state,
    seq,
    ...(historyTime !== undefined && { historyTime }),
  });
  const settle = (patch: UserProperties, withOp: boolean): UserUpdate | undefined =>
    withOp || Object.keys(patch).length > 0 || stateChanged || historyTime !== snapshot?.historyTime
      ? { key, next: next(patch), patch, withOp }
      : undefined;

  if (changed.length === 0 && !create) {
    const nothingSelected =
      !segment &&
      Array.isArray(sync.users.properties) &&
      sync.users.properties.length === 0 &&
      !sync.anonymous;
    return withUser(
      { filtered: nothingSelected ? 'no_selected_properties' : 'user_unchanged' },
      settle({}, false),
    );
  }

  // Who the person is goes first, so the limits below never cut it: Segment's `email` trait (sets
  // both id and email, or finds the person known by email) and, by cio_id, the new `id`.
  const identity: string[] = [];
  if (segment && valueIn(state, 'email') !== undefined) identity.push('email');
  if (segment && 'cio_id' in identifiers && valueIn(state, 'id') !== undefined) identity.push('id');
  const names = [...identity, ...changed.filter((name) => !identity.includes(name))];

  const { kept, settled, detail } = fitLimits(names, state, sync.users.stringify, identifiers);
  const patch: UserProperties = {};
  for (const name of [...kept, ...settled]) setOwn(patch, name, valueIn(state, name) ?? null);
  const deadLetter = detail === undefined ? undefined : { reason: OVER_LIMITS, detail };

  if (!create && kept.every((name) => identity.includes(name) && !changed.includes(name))) {
    // Everything that changed was left out: nothing worth a request.
    return withUser(deadLetter ? { deadLetter } : { filtered: 'user_unchanged' }, settle(patch, false));
  }
  const attributes: UserProperties = {};
  for (const name of kept)
    setOwn(attributes, name, formatValue(name, valueIn(state, name) ?? null, sync.users.stringify));
  const op: PersonIdentifyOp = { type: 'person', action: 'identify', identifiers, attributes };
  // Customer.io drops an attribute update older than the profile's last edit: history keeps its
  // time so a profile someone else (Amplitude's own destination, before the switch) made newer stays.
  if (record.historical === true) op.timestamp = unixSeconds(record.time);
  return withUser(deadLetter ? { op, deadLetter } : { op }, settle(patch, true));
}

function withUser(outcome: IdentifyOutcome, user: UserUpdate | undefined): IdentifyOutcome {
  return user === undefined ? outcome : { ...outcome, user };
}

function modeOf(record: CanonicalRecord): UserPropertiesMode {
  if (record.origin === 'segment') return 'traits';
  return record.kind === 'identify' ? 'operations' : 'plain';
}

/**
 * Which user properties the sync follows: the selected ones (`*` for all); for Segment also the
 * reserved traits, the `id` trait when identifying by cio_id (how Segment users change a person's id,
 * product docs), and the trait of a Segment Engage audience or computed trait (`context.personas`
 * names it; its snake_cased boolean is what Customer.io segments on); `anonymous_id` in an anonymous
 * sync.
 */
function trackedBy(
  record: CanonicalRecord,
  sync: StreamSync,
  identifiers: PersonIdentifiers,
): (name: string) => boolean {
  const selection = sync.users.properties;
  const selected = new Set(selection === '*' ? [] : selection);
  if (record.origin === 'segment') {
    for (const trait of SEGMENT_RESERVED_TRAITS) selected.add(trait);
    if ('cio_id' in identifiers) selected.add('id');
    const audience = identifierValue(objectAt(record.context, 'personas').computation_key);
    if (audience !== undefined) selected.add(audience);
  }
  if (sync.anonymous) selected.add('anonymous_id');
  return (name) => selection === '*' || selected.has(name);
}

/** Segment traits, with analytics.js' `createdAt` as Customer.io's reserved `created_at` (which wins). */
function segmentTraits(traits: unknown): UserProperties {
  const out: UserProperties = {};
  if (!isPlainObject(traits)) return out;
  for (const [key, value] of Object.entries(traits)) if (key !== 'createdAt') setOwn(out, key, value);
  if (traits.createdAt !== undefined && (out.created_at === undefined || out.created_at === null)) {
    setOwn(out, 'created_at', traits.createdAt);
  }
  return out;
}

function valueIn(props: UserProperties, name: string): unknown {
  return Object.hasOwn(props, name) && props[name] !== null ? props[name] : undefined;
}

/**
 * A value as sent: `created_at` in Unix seconds (Customer.io reads it as the signup date only then; a
 * value that is not a date goes as it came, dropping it would lose data without a trace); with
 * `stringify`, everything as a string as Amplitude's destination does, except a numeric `created_at`
 * and `null` (it removes an attribute; `"null"` would set one), objects and arrays as JSON text.
 */
function formatValue(name: string, value: unknown, stringify: boolean): unknown {
  if (name === 'created_at') {
    const seconds = toUnixSeconds(value);
    if (seconds !== undefined) return seconds;
  }
  if (!stringify || value === null || typeof value === 'string') return value;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/**
 * Customer.io's person limits, checked before sending so that what fits goes and what does not is
 * dead-lettered with the reason (Customer.io would reject the whole identify otherwise):
 * - a name over 150 bytes or a value over 1000 bytes can never be sent: `settled`, remembered as
 *   handled so later updates of the user do not report it again;
 * - past 300 attributes in one call, or past the 32 KB a batch item may weigh, the rest is `left`
 *   for the user's next update (or a redrive), which sends what Customer.io still lacks.
 */
function fitLimits(
  names: string[],
  state: UserProperties,
  stringify: boolean,
  identifiers: PersonIdentifiers,
): { kept: string[]; settled: string[]; detail?: string } {
  const problems: string[] = [];
  const settled: string[] = [];
  let kept: string[] = [];
  for (const name of names) {
    const nameBytes = utf8Bytes(name);
    const valueBytes = attributeValueBytes(formatValue(name, valueIn(state, name) ?? null, stringify));
    if (nameBytes > MAX_ATTRIBUTE_NAME_BYTES) {
      problems.push(`name '${preview(name)}' is ${nameBytes} bytes (limit ${MAX_ATTRIBUTE_NAME_BYTES})`);
      settled.push(name);
    } else if (valueBytes > MAX_ATTRIBUTE_VALUE_BYTES) {
      problems.push(
        `value of '${preview(name)}' is ${valueBytes} bytes (limit ${MAX_ATTRIBUTE_VALUE_BYTES})`,
      );
      settled.push(name);
    } else {
      kept.push(name);
    }
  }
  const left = kept.slice(MAX_ATTRIBUTES);
  kept = kept.slice(0, MAX_ATTRIBUTES);
  if (left.length > 0) {
    problems.push(
      `${left.length} over the ${MAX_ATTRIBUTES} attributes of one call: ${left.map(quote).join(', ')}`,
    );
  }
  // The operation must fit a batch item; the last attributes make room (who the person is comes first).
  const itemBytes = (list: string[]) => {
    const attributes: UserProperties = {};
    for (const name of list)
      setOwn(attributes, name, formatValue(name, valueIn(state, name) ?? null, stringify));
    return jsonBytes({ type: 'person', action: 'identify', identifiers, attributes });
  };
  const cut: string[] = [];
  while (kept.length > 0 && itemBytes(kept) > MAX_BATCH_ITEM_BYTES) cut.unshift(kept.pop()!);
  if (cut.length > 0) {
    problems.push(
      `${cut.length} past the ${MAX_BATCH_ITEM_BYTES} bytes of one operation: ${cut.map(quote).join(', ')}`,
    );
    left.push(...cut);
  }
  if (problems.length === 0) return { kept, settled };
  return { kept, settled, detail: `not sent: ${problems.join('; ')}` };
}

function quote(name: string): string {
  return `'${preview(name)}'`;
}

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
