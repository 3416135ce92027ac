/** Device records (push tokens) → Customer.io add_device / delete_device operations. */
import type { PropertySelection } from '../config/schema.ts';
import type { CanonicalRecord } from '../events/record.ts';
import type { AddDeviceOp, DeleteDeviceOp, PersonIdentifiers } from './ops.ts';
import { selectProperties } from './event-data.ts';
import { unixSeconds } from './timestamps.ts';
import { nonBlank, objectAt, setOwn } from '../json-values.ts';

/**
 * Segment's mobile lifecycle events (and the device events Customer.io's own Pipelines API and
 * Segment's Actions destination reserve) that register or remove a push device.
 */
const ADD_DEVICE_EVENTS = new Set([
  'Application Installed',
  'Application Opened',
  'Device Created or Updated',
]);
const DELETE_DEVICE_EVENTS = new Set(['Application Uninstalled', 'Device Deleted']);

const APPLE_PLATFORMS = new Set(['ios', 'ipados', 'watchos', 'tvos', 'iphone os']);

/**
 * The device operation a Segment track record stands for, or `undefined` when it is an ordinary event:
 * not a device event, no push token, or (to add) no platform, which Customer.io requires. Falling back
 * to an event rather than rejecting keeps the app-lifecycle event itself, as RudderStack does.
 */
export function deviceOp(
  record: CanonicalRecord,
  identifiers: PersonIdentifiers,
  eventSelection: PropertySelection,
): AddDeviceOp | DeleteDeviceOp | undefined {
  if (record.origin !== 'segment' || record.kind !== 'track' || record.event_type === undefined) {
    return undefined;
  }
  const device = objectAt(record.context, 'device');
  const token = nonBlank(device.token);
  if (token === undefined) return undefined;
  if (DELETE_DEVICE_EVENTS.has(record.event_type)) {
    return { type: 'person', action: 'delete_device', identifiers, device: { token } };
  }
  if (!ADD_DEVICE_EVENTS.has(record.event_type)) return undefined;
  const platform = devicePlatform(record.context);
  if (platform === undefined) return undefined;
  return {
    type: 'person',
    action: 'add_device',
    identifiers,
    device: {
      token,
      platform,
      last_used: unixSeconds(record.time),
      attributes: deviceAttributes(record, eventSelection),
    },
  };
}

/**
 * Customer.io knows `ios` and `android`. The Apple family all receive APNs pushes, so they are `ios`;
 * any other value goes through lower-cased (Customer.io answers for it item by item) rather than being
 * guessed into one of the two.
 */
export function devicePlatform(context: Record<string, unknown>): string | undefined {
  const raw = nonBlank(objectAt(context, 'device').type) ?? nonBlank(objectAt(context, 'os').name);
  if (raw === undefined) return undefined;
  const lower = raw.trim().toLowerCase();
  return APPLE_PLATFORMS.has(lower) ? 'ios' : lower;
}

/**
 * Device attributes: the selected event properties, then what the context says about the device under
 * Customer.io's own attribute names (those win: they describe the device, properties may not). The spec
 * types custom device attributes as strings, so every value is sent as one.
 */
export function deviceAttributes(
  record: CanonicalRecord,
  eventSelection: PropertySelection,
): Record<string, string> {
  const os = objectAt(record.context, 'os');
  const fromContext: Record<string, unknown> = {
    app_version: objectAt(record.context, 'app').version,
    // "The operating system, including the version" per the spec: `iOS 17.2`.
    device_os:
      [nonBlank(os.name), nonBlank(os.version)].filter((part) => part !== undefined).join(' ') || undefined,
    device_model: objectAt(record.context, 'device').model,
    device_locale: record.context.locale,
  };
  const out: Record<string, string> = {};
  for (const source of [selectProperties(record.event_properties, eventSelection), fromContext]) {
    for (const [key, value] of Object.entries(source)) {
      const text = asString(value);
      if (text !== undefined) setOwn(out, key, text);
    }
  }
  return out;
}

function asString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
