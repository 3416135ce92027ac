/** One canonical record → the Customer.io operations it becomes (or why it is filtered or dead-lettered). */
import type { StreamSync } from '../config/schema.ts';
import type { CanonicalRecord } from '../events/record.ts';
import {
  checkAttributes,
  checkBatchItem,
  checkEventData,
  checkEventName,
  checkIdentifierValue,
} from '../customerio/limits.ts';
import { deletionKindOf, heldBySuppression, mapDeletion } from './deletions.ts';
import { deviceOp } from './devices.ts';
import { filterRecord } from './filter.ts';
import {
  type IdentifyOutcome,
  type UserContext,
  carriesUserProperties,
  planIdentify,
} from './identify-plan.ts';
import { identifierValue, readIdentifier, toCioIdentifiers } from './person-identifier.ts';
import type {
  AnonymousIdentifiers,
  CioBatchOp,
  DeadLetterReason,
  MapResult,
  PersonEventOp,
  PersonIdentifiers,
} from './ops.ts';
import { eventData, selectProperties } from './event-data.ts';
import { unixSeconds } from './timestamps.ts';
import { MAX_ULID_TIME, eventUlid } from './ulid.ts';
import { pageEventName, pageName, screenEventName, screenName, viewKind } from './views.ts';

/** No user seen yet: what a record is mapped against when no snapshots are given. */
const NO_USERS: UserContext = { seq: 0, snapshots: new Map() };

/**
 * One canonical record → what to do with it for one stream sync: Customer.io Track v2 batch operations
 * to send, or a reason it is filtered (counted) or dead-lettered (kept for inspection and redrive).
 *
 * `sourceId` namespaces the dedupe seed of event ids, so two sources that happen to reuse an
 * insert_id / messageId cannot silence each other's events at Customer.io.
 *
 * `users` is what user forwarding compares against: the snapshots of the batch's users and this
 * record's seq. An Amplitude event with user properties becomes an identify followed by its event.
 */
export function mapRecord(
  record: CanonicalRecord,
  sync: StreamSync,
  sourceId?: string,
  users: UserContext = NO_USERS,
): MapResult {
  const deletion = deletionKindOf(record, sync);
  if (heldBySuppression(record, sync, users, deletion)) return filtered('suppressed');
  if (deletion !== undefined) return mapDeletion(record, sync, deletion);
  switch (record.kind) {
    case 'track':
    case 'page':
    case 'screen': {
      const event = mapEvent(record, sync, sourceId, users.seq);
      if (!carriesUserProperties(record, sync)) return event;
      // The identify goes whatever the event filters say: Amplitude's Send Users is its own switch.
      const who = resolveWho(record, sync, false);
      if (who.kind === 'error') return event.kind === 'filtered' ? who.result : event;
      if (who.kind !== 'person') return event;
      return withEvent(planIdentify(record, sync, who.identifiers, users), event);
    }
    case 'identify':
      return mapIdentifyRecord(record, sync, users);
    case 'group_identify':
      // Amplitude group properties have no person to attach to; objects come from Segment group calls.
      return { kind: 'filtered', reason: 'group_identify_not_forwarded' };
    case 'alias':
      return mapAlias(record, sync);
    case 'group':
      return mapGroup(record, sync);
    case 'user_deletion':
      // Classified by deletionKindOf above; kept here so the switch stays exhaustive.
      return mapDeletion(record, sync, 'person_delete');
  }
}

type Who =
  | { kind: 'person'; identifiers: PersonIdentifiers }
  | { kind: 'anonymous'; identifiers: AnonymousIdentifiers }
  | { kind: 'none' }
  | { kind: 'error'; result: MapResult };

/**
 * Who a record is about: the configured identifier; failing that, when the sync sends anonymous
 * records (and the operation can address an anonymous person), the record's anonymous_id.
 */
function resolveWho(record: CanonicalRecord, sync: StreamSync, allowAnonymous = true): Who {
  const value = readIdentifier(record, sync.identifier);
  if (value !== undefined) {
    const resolved = toCioIdentifiers(value);
    if (!resolved.ok) return { kind: 'error', result: deadLetter(resolved.reason, resolved.detail) };
    return { kind: 'person', identifiers: resolved.identifiers };
  }
  const anonymousId = sync.anonymous && allowAnonymous ? identifierValue(record.anonymous_id) : undefined;
  if (anonymousId !== undefined) return { kind: 'anonymous', identifiers: { anonymous_id: anonymousId } };
  return { kind: 'none' };
}

function mapEvent(
  record: CanonicalRecord,
  sync: StreamSync,
  sourceId: string | undefined,
  seq: number,
): MapResult {
  const events = sync.events;
  if (!events.send) return filtered('events_disabled');
  const shape = eventShape(record, sync);
  const names = [shape.name, record.event_type, shape.alias].filter((n): n is string => n !== undefined);
  const filterReason = filterRecord(record, events.filter, [...new Set(names)]);
  if (filterReason !== undefined) return filtered(filterReason);

  const who = resolveWho(record, sync);
  if (who.kind === 'error') return who.result;
  if (who.kind === 'none') return filtered('no_identifier');
  if (!Number.isInteger(record.time) || record.time < 0 || record.time > MAX_ULID_TIME) {
    return deadLetter('invalid_time', `time must be epoch milliseconds, got ${String(record.time)}`);
  }

  if (events.devices && who.kind === 'person') {
    const device = deviceOp(record, who.identifiers, events.properties.event);
    if (device !== undefined) return checked([device]);
  }

  const op: PersonEventOp = {
    type: 'person',
    action: shape.action,
    identifiers: who.identifiers,
    name: shape.name,
    id: eventId(record, sourceId, seq),
    timestamp: unixSeconds(record.time),
    // Always present, `{}` when nothing is selected: the spec allows an empty object, and one shape
    // for every event keeps size checks and tests simple.
    attributes: eventData(record, events.properties),
  };
  return checked([op]);
}

/**
 * The Customer.io event id: a ULID fixed by the event's identity, so every delivery, retry, replay
 * or redrive of it (and every client retry of the call) repeats it and Customer.io keeps one event.
 * - With the client's dedupe id (insert_id / messageId): seeded by source + that id, timed by the
 *   time the client gave the event (0 when it gave none). Nothing that differs between two sends of
 *   one call goes in: not sentAt, not the upload or receive time.
 * - Without one: seeded by source + the log entry's seq, timed by the logged event time; so the
 *   same log entry always gets the same id, and two calls always get two.
 */
export function eventId(record: CanonicalRecord, sourceId: string | undefined, seq: number): string {
  const namespace = sourceId === undefined ? '' : `${sourceId}\u0000`;
  if (record.insert_id !== undefined) {
    const time = validUlidTime(record.client_time) ? record.client_time : 0;
    return eventUlid(time, `${namespace}${record.insert_id}`);
  }
  return eventUlid(record.time, `${namespace}log\u0000${seq}`);
}

function validUlidTime(time: number | undefined): time is number {
  return time !== undefined && Number.isInteger(time) && time >= 0 && time <= MAX_ULID_TIME;
}

interface EventShape {
  action: 'event' | 'page' | 'screen';
  name: string;
  /** Another name the record is known by, for type filters (`Viewed Home Screen` for a native screen). */
  alias?: string;
}

/**
 * Action and name of an event-like record.
 * - Page views: native `page` with the page's name or URL; or, with `pageViews.as: event`, an event that
 *   keeps the Amplitude event type (as Amplitude's destination does), or `Viewed {name} Page` for a
 *   Segment page call, which has no event type (mirroring Segment's screen convention).
 * - Screen views: `Viewed {name} Screen` events (Segment's classic destination), or native `screen`.
 * - Anything else: an event named by its event type.
 */
function eventShape(record: CanonicalRecord, sync: StreamSync): EventShape {
  const kind = viewKind(record, sync.events);
  if (kind === 'page') {
    const asEvent = record.event_type ?? pageEventName(record);
    if (sync.events.pageViews.as === 'event') return { action: 'event', name: asEvent };
    return { action: 'page', name: pageName(record), alias: asEvent };
  }
  if (kind === 'screen') {
    if (sync.events.screenViews.as === 'screen') {
      return { action: 'screen', name: screenName(record) ?? 'Undefined', alias: screenEventName(record) };
    }
    return { action: 'event', name: screenEventName(record) };
  }
  return { action: 'event', name: record.event_type ?? '' };
}

function mapIdentifyRecord(record: CanonicalRecord, sync: StreamSync, users: UserContext): MapResult {
  if (!sync.users.send) return filtered('users_disabled');
  // Customer.io's identify has no anonymous form: it needs a real identifier.
  const who = resolveWho(record, sync, false);
  if (who.kind === 'error') return who.result;
  if (who.kind !== 'person') return filtered('no_identifier');
  return withEvent(planIdentify(record, sync, who.identifiers, users), undefined);
}

/**
 * A record's identify (already fitted to Customer.io's limits) and its event, if it has one, as one
 * result: identify first, so the event's Liquid sees the person as updated; dead letters of either
 * part kept beside whatever is sent.
 */
function withEvent(identify: IdentifyOutcome, event: MapResult | undefined): MapResult {
  const ops: CioBatchOp[] = identify.op ? [identify.op] : [];
  const letters: DeadLetterReason[] = identify.deadLetter ? [identify.deadLetter] : [];
  if (event?.kind === 'send') {
    ops.push(...event.ops);
    letters.push(...(event.deadLetters ?? []));
  } else if (event?.kind === 'dead_letter') {
    letters.push(
      event.detail === undefined ? { reason: event.reason } : { reason: event.reason, detail: event.detail },
    );
  }
  const user = identify.user === undefined ? {} : { user: identify.user };
  if (ops.length > 0)
    return { kind: 'send', ops, ...(letters.length > 0 ? { deadLetters: letters } : {}), ...user };
  const [first, ...more] = letters;
  if (first !== undefined) {
    if (more.length === 0) return { ...first, kind: 'dead_letter', ...user };
    const detail = letters
      .map((l) => (l.detail === undefined ? l.reason : `${l.reason}: ${l.detail}`))
      .join('; ');
    return { kind: 'dead_letter', reason: first.reason, detail, ...user };
  }
  const reason = event?.kind === 'filtered' ? event.reason : (identify.filtered ?? 'user_unchanged');
  return { kind: 'filtered', reason, ...user };
}

/** Segment alias: the person known by `previous_id` is merged into the one known by `user_id`. */
function mapAlias(record: CanonicalRecord, sync: StreamSync): MapResult {
  if (!sync.events.merges) return filtered('merges_disabled');
  const primary = identifierValue(record.user_id);
  const secondary = identifierValue(record.previous_id);
  if (primary === undefined || secondary === undefined) {
    return deadLetter('merge_missing_identifier', 'an alias needs both user_id and previous_id');
  }
  // Merging a person into themselves is at best a no-op: not worth a request, not an error either.
  if (primary === secondary) return filtered('merge_same_person');
  const p = toCioIdentifiers(primary);
  if (!p.ok) return deadLetter(p.reason, `user_id: ${p.detail}`);
  const s = toCioIdentifiers(secondary);
  if (!s.ok) return deadLetter(s.reason, `previous_id: ${s.detail}`);
  return checked([{ type: 'person', action: 'merge', primary: p.identifiers, secondary: s.identifiers }]);
}

/** Keys that say which object type a group is; they address the object, they are not attributes of it. */
const OBJECT_TYPE_KEYS = ['object_type_id', 'objectTypeId'];

/** Segment group: the group becomes a Customer.io object related to the person. */
function mapGroup(record: CanonicalRecord, sync: StreamSync): MapResult {
  if (!sync.events.groups) return filtered('groups_disabled');
  const objectId = identifierValue(record.group_id);
  if (objectId === undefined) return deadLetter('missing_group_id', 'a group call needs a group_id');
  const tooLong = checkIdentifierValue(objectId);
  if (tooLong !== undefined) return deadLetter('object_id_too_long', tooLong);
  const traits = record.group_properties ?? {};
  const objectTypeId = identifierValue(traits.object_type_id) ?? identifierValue(traits.objectTypeId) ?? '1';
  const attributes = selectProperties(
    Object.fromEntries(Object.entries(traits).filter(([key]) => !OBJECT_TYPE_KEYS.includes(key))),
    sync.events.properties.group,
  );
  const identifiers = { object_type_id: objectTypeId, object_id: objectId };
  const who = resolveWho(record, sync);
  if (who.kind === 'error') return who.result;
  if (who.kind === 'none') return filtered('no_identifier');
  if (who.kind === 'anonymous') {
    return checked([
      {
        type: 'object',
        action: 'identify_anonymous',
        identifiers,
        attributes,
        cio_relationships: [{ identifiers: who.identifiers }],
      },
    ]);
  }
  return checked([
    {
      type: 'object',
      action: 'identify',
      identifiers,
      attributes,
      cio_relationships: [{ identifiers: who.identifiers }],
    },
  ]);
}

/**
 * Customer.io's documented limits, checked op by op before anything is sent: an oversized item would
 * fail inside a 207 anyway, and here the record is dead-lettered with the precise reason.
 */
function checked(ops: CioBatchOp[]): MapResult {
  for (const op of ops) {
    const failure = checkOp(op);
    if (failure !== undefined) return failure;
  }
  return { kind: 'send', ops };
}

function checkOp(op: CioBatchOp): MapResult | undefined {
  switch (op.action) {
    case 'event':
    case 'page':
    case 'screen': {
      const name = checkEventName(op.name);
      if (name !== undefined) return deadLetter('event_name_invalid', name);
      const data = checkEventData(op.attributes);
      if (data !== undefined) return deadLetter('event_data_too_large', data);
      break;
    }
    case 'identify':
    case 'identify_anonymous': {
      // Person identifies arrive fitted to these limits already (src/mapping/identify-plan.ts); objects do not.
      const attributes = checkAttributes(op.attributes);
      if (attributes !== undefined) return deadLetter('attributes_invalid', attributes);
      break;
    }
    case 'add_device': {
      const attributes = checkAttributes(op.device.attributes);
      if (attributes !== undefined) return deadLetter('attributes_invalid', `device ${attributes}`);
      break;
    }
    case 'delete_device':
    case 'merge':
    case 'delete':
    case 'suppress':
    case 'unsuppress':
    case 'delete_relationships':
      break;
  }
  const size = checkBatchItem(op);
  return size === undefined ? undefined : deadLetter('item_too_large', size);
}

function filtered(reason: string): MapResult {
  return { kind: 'filtered', reason };
}

function deadLetter(reason: string, detail: string): MapResult {
  return { kind: 'dead_letter', reason, detail };
}
