import type { StreamSync } from '../config/schema.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { identifierValue } from './identifier.ts';
import type { MapResult, PersonIdentifiers } from './ops.ts';
import { selectProperties } from './properties.ts';
import { toUnixSeconds } from './timestamps.ts';
import { flattenUserProperties } from './user-properties.ts';
import { setOwn } from './values.ts';

/**
 * Traits Segment's Customer.io destination always forwards on identify, because they are about who
 * the person is rather than optional data: `email` (a userId plus an email trait sets both), the
 * signup date and the unsubscribe flag.
 */
const SEGMENT_RESERVED_TRAITS = ['email', 'created_at', 'createdAt', 'unsubscribed'];

/**
 * An identify record as one Customer.io `identify` operation with the person's selected properties.
 *
 * Deliberately stateless and small: it sends what this record says, every time. Sending only what
 * changed and applying `$add` / `$unset` / … needs the person's last forwarded values, which is the
 * snapshot-based user forwarding's job; that replaces this function rather than growing it.
 *
 * No root `timestamp`: Customer.io drops an attribute update older than the profile's last edit, so a
 * client clock running ahead would silently block later updates; per-user delivery order already puts
 * updates in sequence.
 */
export function mapIdentify(
  record: CanonicalRecord,
  sync: StreamSync,
  identifiers: PersonIdentifiers,
): MapResult {
  const traits = flattenUserProperties(record.user_properties);
  const attributes = selectProperties(traits, sync.users.properties);
  if (record.origin === 'segment') {
    for (const key of SEGMENT_RESERVED_TRAITS) {
      if (traits[key] !== undefined) setOwn(attributes, key, traits[key]);
    }
    // Identifying by cio_id is how Segment users change a person's id or email (product docs): the
    // new `id` trait must go through with the new email.
    if ('cio_id' in identifiers && traits.id !== undefined) setOwn(attributes, 'id', traits.id);
  }
  normalizeCreatedAt(attributes);
  if (sync.users.stringify) stringifyValues(attributes);
  const anonymousId = identifierValue(record.anonymous_id);
  // Customer.io attaches earlier anonymous events to the person who gets their anonymous_id, so an
  // anonymous sync would be pointless without it. (Customer.io wants the value unique to one person.)
  if (sync.anonymous && anonymousId !== undefined) setOwn(attributes, 'anonymous_id', anonymousId);
  // Amplitude's destination sends users only when a selected property changed; an identify that
  // carries none of them has nothing to say. Segment's creates or updates the person regardless.
  if (record.origin === 'amplitude' && Object.keys(attributes).length === 0) {
    return { kind: 'filtered', reason: 'no_selected_properties' };
  }
  return { kind: 'send', ops: [{ type: 'person', action: 'identify', identifiers, attributes }] };
}

/**
 * `createdAt` (analytics.js style) becomes Customer.io's reserved `created_at`, in Unix seconds. A value
 * that is not a date is left as it came: dropping it would lose data without a trace.
 */
function normalizeCreatedAt(attributes: Record<string, unknown>): void {
  if (attributes.createdAt !== undefined) {
    if (attributes.created_at === undefined) attributes.created_at = attributes.createdAt;
    delete attributes.createdAt;
  }
  if (attributes.created_at === undefined) return;
  const seconds = toUnixSeconds(attributes.created_at);
  if (seconds !== undefined) attributes.created_at = seconds;
}

/**
 * Amplitude's destination sends every user property as a string; `users.stringify` does the same.
 * `created_at` stays a number (Customer.io reads it as the signup date only then), `null` stays null
 * (it clears an attribute; `"null"` would set one), objects and arrays become their JSON text.
 */
function stringifyValues(attributes: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'created_at' && typeof value === 'number') continue;
    if (value === null || typeof value === 'string') continue;
    setOwn(attributes, key, typeof value === 'object' ? JSON.stringify(value) : String(value));
  }
}
