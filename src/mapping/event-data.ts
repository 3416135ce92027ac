/** Property selection (`'*'` or a list) and the Customer.io event data built from the selected properties. */
import type { PropertySelection } from '../config/schema.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { assignOwn, isPlainObject, setOwn } from '../json-values.ts';
import { flattenUserProperties } from './flat-user-properties.ts';

/**
 * The selected properties of an object: `'*'` → all of them, a list → those names that are present
 * (in list order), `[]` → none. Nothing is sent unless selected, as in Amplitude's destination.
 * Values are copied as they are; an `undefined` value counts as absent.
 */
export function selectProperties(
  obj: Record<string, unknown> | undefined,
  selection: PropertySelection,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isPlainObject(obj)) return out;
  const keys = selection === '*' ? Object.keys(obj) : selection;
  for (const key of keys) {
    if (Object.hasOwn(obj, key) && obj[key] !== undefined) setOwn(out, key, obj[key]);
  }
  return out;
}

export interface EventPropertySelection {
  event: PropertySelection;
  user: PropertySelection;
  group: PropertySelection;
}

/**
 * Customer.io event data: the selected event, user and group properties in one flat object. On a name
 * clash the event's own property wins, then the user's, then the group's: event data is what the event
 * is about (Liquid's `event.*`), while user and group properties are context that Customer.io also
 * holds on the person, so the most specific value is the one a message should see.
 */
export function eventData(
  record: CanonicalRecord,
  selection: EventPropertySelection,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  assignOwn(
    out,
    selectProperties(record.group_properties, selection.group),
    selectProperties(flattenUserProperties(record.user_properties), selection.user),
    selectProperties(record.event_properties, selection.event),
  );
  return out;
}
