/** Page and screen views: which records are views, and the event names they are sent with. */
import type { StreamEvents } from '../config/schema.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { MAX_EVENT_NAME_BYTES, utf8Bytes } from '../customerio/limits.ts';
import { nonBlank, objectAt } from '../json-values.ts';

/** Segment page/screen calls, and Amplitude events whose type the sync lists as page or screen views. */
export function viewKind(record: CanonicalRecord, events: StreamEvents): 'page' | 'screen' | undefined {
  if (record.kind === 'page') return 'page';
  if (record.kind === 'screen') return 'screen';
  if (record.kind !== 'track' || record.event_type === undefined) return undefined;
  if (events.pageViews.eventTypes.includes(record.event_type)) return 'page';
  if (events.screenViews.eventTypes.includes(record.event_type)) return 'screen';
  return undefined;
}

/** Where a page's URL may be, in order: Segment properties, Amplitude's page-view plugin, context. */
const URL_PROPERTIES = ['url', '[Amplitude] Page URL', '[Amplitude] Page Location', 'page_url'];

/**
 * A page view's Customer.io name: its name, else its URL, else `Undefined` (Segment's classic
 * destination names the Page View activity the same way; `name` is required, so there is always one).
 *
 * A URL longer than Customer.io's 100-byte event name limit loses its query and fragment first:
 * tracking parameters push ordinary URLs over the limit, and the page (not the campaign tag) is what
 * the name is for. The full URL is still in the event data when `url` is a selected property.
 */
export function pageName(record: CanonicalRecord): string {
  const name = nonBlank(record.name);
  if (name !== undefined) return name;
  const url = pageUrl(record);
  if (url === undefined) return 'Undefined';
  if (utf8Bytes(url) <= MAX_EVENT_NAME_BYTES) return url;
  return url.replace(/[?#].*$/s, '');
}

export function pageUrl(record: CanonicalRecord): string | undefined {
  for (const key of URL_PROPERTIES) {
    const url = nonBlank(record.event_properties[key]);
    if (url !== undefined) return url;
  }
  return nonBlank(objectAt(record.context, 'page').url);
}

/** A screen's name: the call's name, else Amplitude's `[Amplitude] Screen Name` property. */
export function screenName(record: CanonicalRecord): string | undefined {
  return nonBlank(record.name) ?? nonBlank(record.event_properties['[Amplitude] Screen Name']);
}

/** `Viewed Home Screen`, as Segment's classic Customer.io destination names screen events. */
export function screenEventName(record: CanonicalRecord): string {
  return `Viewed ${screenName(record) ?? 'Undefined'} Screen`;
}

/** `Viewed Pricing Page`: the same convention, for Segment page calls sent as plain events. */
export function pageEventName(record: CanonicalRecord): string {
  return `Viewed ${nonBlank(record.name) ?? 'Undefined'} Page`;
}
