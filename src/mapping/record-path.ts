/** Dotted paths (`user_properties.email`, `event_properties.items.0.sku`) read from a canonical record. */
import type { CanonicalRecord } from '../events/record.ts';
import { flattenUserProperties } from './flat-user-properties.ts';

/**
 * Reads a dotted path (`user_id`, `user_properties.email`, `event_properties.cart.total`,
 * `context.device.token`, `event_properties.items.0.sku`) from a record.
 *
 * Property names may themselves contain dots (`utm.source`), so at each level the longest key that
 * exists wins: `event_properties.utm.source` finds a key `utm.source` before it looks inside `utm`.
 *
 * `user_properties` is read after flattening Amplitude's `$set` / `$setOnce`, so an identifier such as
 * `user_properties.email` finds the email whether the SDK sent `{ email }` or `{ $set: { email } }`.
 */
export function readPath(record: CanonicalRecord, path: string): unknown {
  const segments = path.split('.');
  if (segments[0] === 'user_properties') {
    return readSegments(flattenUserProperties(record.user_properties), segments.slice(1));
  }
  return readSegments(record, segments);
}

function readSegments(value: unknown, segments: readonly string[]): unknown {
  if (segments.length === 0) return value;
  if (value === null || typeof value !== 'object') return undefined;
  for (let take = segments.length; take >= 1; take--) {
    const key = segments.slice(0, take).join('.');
    if (Array.isArray(value) && !/^(0|[1-9][0-9]*)$/.test(key)) continue;
    if (!Object.hasOwn(value, key)) continue;
    return readSegments((value as Record<string, unknown>)[key], segments.slice(take));
  }
  return undefined;
}
