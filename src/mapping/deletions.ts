/** Deletes and suppressions: the person and object operations a deletion record becomes, and their effects. */
import type { StreamSync } from '../config/schema.ts';
import { checkBatchItem, checkIdentifierValue } from '../customerio/limits.ts';
import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { type UserContext, userKey } from './identify-plan.ts';
import { identifierValue, readIdentifier, toCioIdentifiers } from './person-identifier.ts';
import type {
  CioBatchOp,
  DeletionEffect,
  DeletionKind,
  MapResult,
  ObjectIdentifiers,
  PersonIdentifiers,
} from './ops.ts';

/**
 * Deletes and suppressions (pure): which records stand for one, the Customer.io operation each
 * becomes, and which records a suppression holds back.
 *
 * - Segment semantic events (track calls, names per sync in `events.semantic`), as Segment's Customer.io
 *   (Actions) destination maps them: `User Deleted` → person `delete`, `User Suppressed` → `suppress`,
 *   `User Unsuppressed` → `unsuppress`, `Object Deleted` (`properties.objectId`, type id
 *   `object_type_id`/`objectTypeId`, default `"1"`) → object `delete`, `Relationship Deleted` → object
 *   `delete_relationships` with the person as the relationship.
 * - A Segment `group` call whose traits carry `action: "delete_relationships"` (RudderStack's
 *   convention for group calls to Customer.io) → the same `delete_relationships`, object = the group.
 * - Amplitude User Privacy API deletions (`user_deletion` records) → person `delete` (`users.deletions`).
 *
 * The person is resolved by the sync's identifier rule like every other person call (email-shaped →
 * `email`, `cio_` → `cio_id`, else `id`). A deletion that cannot name its person is dead-lettered, not
 * filtered: a deletion request is an obligation, and a dead letter is listed where someone will look.
 *
 * Deletions are not events: `events.send` and `events.filter` do not apply to them.
 */

/** The traits `action` of a group call that deletes the person's relationship to the group. */
export const GROUP_DELETE_RELATIONSHIPS_ACTION = 'delete_relationships';

/** Which delete or suppression a record stands for, or undefined for every other record. */
export function deletionKindOf(record: CanonicalRecord, sync: StreamSync): DeletionKind | undefined {
  if (record.kind === 'user_deletion') return 'person_delete';
  if (record.origin !== 'segment') return undefined;
  if (record.kind === 'group') {
    const action = record.group_properties?.action;
    return sync.events.groups && action === GROUP_DELETE_RELATIONSHIPS_ACTION
      ? 'relationship_delete'
      : undefined;
  }
  const semantic = sync.events.semantic;
  if (record.kind !== 'track' || !semantic.send || record.event_type === undefined) return undefined;
  const name = record.event_type;
  if (semantic.userDeleted.includes(name)) return 'person_delete';
  if (semantic.userSuppressed.includes(name)) return 'person_suppress';
  if (semantic.userUnsuppressed.includes(name)) return 'person_unsuppress';
  if (semantic.objectDeleted.includes(name)) return 'object_delete';
  if (semantic.relationshipDeleted.includes(name)) return 'relationship_delete';
  return undefined;
}

/** The operation (and its local effect) of a record deletionKindOf classified as `kind`. */
export function mapDeletion(record: CanonicalRecord, sync: StreamSync, kind: DeletionKind): MapResult {
  if (record.kind === 'user_deletion' && !sync.users.deletions) return filtered('deletions_disabled');
  switch (kind) {
    case 'person_delete':
    case 'person_suppress':
    case 'person_unsuppress': {
      const who = person(record, sync);
      if (!who.ok) return who.result;
      const action =
        kind === 'person_delete' ? 'delete' : kind === 'person_suppress' ? 'suppress' : 'unsuppress';
      return send({ type: 'person', action, identifiers: who.identifiers }, { kind, person: who.person });
    }
    case 'object_delete': {
      const object = objectOf(record);
      if (!object.ok) return object.result;
      return send({ type: 'object', action: 'delete', identifiers: object.identifiers }, { kind });
    }
    case 'relationship_delete': {
      const object = objectOf(record);
      if (!object.ok) return object.result;
      const who = person(record, sync);
      if (!who.ok) return who.result;
      return send(
        {
          type: 'object',
          action: 'delete_relationships',
          identifiers: object.identifiers,
          cio_relationships: [{ identifiers: who.identifiers }],
        },
        { kind, person: who.person },
      );
    }
  }
}

// --- Suppression --------------------------------------------------------------------------------

/**
 * Whether a suppressed person holds this record back. Customer.io ignores every call about a
 * suppressed identifier, so nothing is sent until an unsuppress (which always goes: the person may
 * have been suppressed outside this sync). An object delete names no person and is never held.
 */
export function heldBySuppression(
  record: CanonicalRecord,
  sync: StreamSync,
  users: UserContext,
  kind: DeletionKind | undefined,
): boolean {
  const suppressed = users.suppressed;
  if (suppressed === undefined || suppressed.size === 0) return false;
  if (kind === 'person_unsuppress' || kind === 'object_delete') return false;
  return personKeysOfRecord(record, sync).some((key) => suppressed.has(key));
}

/** The user keys of the people a record is about: its identifier; both sides of an alias. */
export function personKeysOfRecord(record: CanonicalRecord, sync: StreamSync): string[] {
  const values =
    record.kind === 'alias'
      ? [identifierValue(record.user_id), identifierValue(record.previous_id)]
      : [readIdentifier(record, sync.identifier)];
  const keys: string[] = [];
  for (const value of values) {
    if (value === undefined) continue;
    const resolved = toCioIdentifiers(value);
    if (resolved.ok) keys.push(userKey(resolved.identifiers));
  }
  return keys;
}

/** Every user key a batch of these records is about: whose suppression state a delivery loads. */
export function personKeysOf(loggedRecords: readonly LoggedRecord[], sync: StreamSync): string[] {
  const keys = new Set<string>();
  for (const { record } of loggedRecords) {
    try {
      for (const key of personKeysOfRecord(record, sync)) keys.add(key);
    } catch {
      // One record's trouble is its own: planBatch dead-letters it as unprocessable.
    }
  }
  return [...keys];
}

// --- Helpers ------------------------------------------------------------------------------------

type Resolved<T> = ({ ok: true } & T) | { ok: false; result: MapResult };

function person(
  record: CanonicalRecord,
  sync: StreamSync,
): Resolved<{ identifiers: PersonIdentifiers; person: NonNullable<DeletionEffect['person']> }> {
  const value = readIdentifier(record, sync.identifier);
  if (value === undefined) {
    return {
      ok: false,
      result: deadLetter(
        'deletion_without_identifier',
        `the record has no ${sync.identifier}, the sync's identifier, to name the person by`,
      ),
    };
  }
  const resolved = toCioIdentifiers(value);
  if (!resolved.ok) return { ok: false, result: deadLetter(resolved.reason, resolved.detail) };
  const { identifiers } = resolved;
  return { ok: true, identifiers, person: { key: userKey(identifiers), identifiers } };
}

/** The object of an object or relationship delete: the group of a group call, else `properties.objectId`. */
function objectOf(record: CanonicalRecord): Resolved<{ identifiers: ObjectIdentifiers }> {
  const fields = record.kind === 'group' ? (record.group_properties ?? {}) : record.event_properties;
  const objectId =
    record.kind === 'group'
      ? identifierValue(record.group_id)
      : (identifierValue(fields.objectId) ?? identifierValue(fields.object_id));
  if (objectId === undefined) {
    const where = record.kind === 'group' ? 'a group_id' : 'properties.objectId';
    return { ok: false, result: deadLetter('missing_object_id', `an object delete needs ${where}`) };
  }
  const objectTypeId = identifierValue(fields.object_type_id) ?? identifierValue(fields.objectTypeId) ?? '1';
  for (const value of [objectId, objectTypeId]) {
    const tooLong = checkIdentifierValue(value);
    if (tooLong !== undefined) return { ok: false, result: deadLetter('object_id_too_long', tooLong) };
  }
  return { ok: true, identifiers: { object_type_id: objectTypeId, object_id: objectId } };
}

function send(op: CioBatchOp, deletion: DeletionEffect): MapResult {
  const size = checkBatchItem(op);
  if (size !== undefined) return deadLetter('item_too_large', size);
  return { kind: 'send', ops: [op], deletion };
}

function filtered(reason: string): MapResult {
  return { kind: 'filtered', reason };
}

function deadLetter(reason: string, detail: string): MapResult {
  return { kind: 'dead_letter', reason, detail };
}
