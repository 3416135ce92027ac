import type { AmplitudeEvent, AmplitudeGroupIdentification, AmplitudeIdentification } from './amplitude.ts';
import type { CanonicalRecord, RecordKind } from './record.ts';
import type { SegmentCall } from './segment.ts';

/**
 * Validated vendor payloads → CanonicalRecord. Pure: the receive time and the uploader's address
 * come in as arguments, so the same input always gives the same record.
 *
 * Amplitude keys that have no canonical field (device fields, `library`, `session_id`, `event_id`,
 * revenue fields, `plan`, …) go into `context` under their own names: nothing the client sent is
 * lost, and the mapper decides what Customer.io gets.
 */

export interface RequestInfo {
  /** The uploader's IP, which Amplitude substitutes for `ip: "$remote"`. */
  ip?: string;
}

const AMPLITUDE_EVENT_FIELDS = new Set([
  'event_type',
  'user_id',
  'device_id',
  'time',
  'insert_id',
  'event_properties',
  'user_properties',
  'group_properties',
  'groups',
]);

function amplitudeKind(eventType: string): RecordKind {
  if (eventType === '$identify') return 'identify';
  if (eventType === '$groupidentify') return 'group_identify';
  // Page and screen views are ordinary events at Amplitude; the mapper classifies them by event type.
  return 'track';
}

function contextOf(source: Record<string, unknown>, mapped: ReadonlySet<string>, request?: RequestInfo) {
  const context: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (mapped.has(key) || value === undefined || value === null) continue;
    context[key] = value;
  }
  if (context.ip === '$remote' && request?.ip) context.ip = request.ip;
  return context;
}

/** Adds the optional fields that have a value, so records carry no `undefined` keys. */
function withOptional(record: CanonicalRecord, fields: Partial<CanonicalRecord>): CanonicalRecord {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null && value !== '')
      (record as unknown as Record<string, unknown>)[key] = value;
  }
  return record;
}

export function fromAmplitudeEvent(
  event: AmplitudeEvent,
  receivedAt: number,
  request?: RequestInfo,
): CanonicalRecord {
  const record: CanonicalRecord = {
    kind: amplitudeKind(event.event_type),
    origin: 'amplitude',
    event_type: event.event_type,
    time: event.time ?? receivedAt,
    event_properties: event.event_properties ?? {},
    user_properties: event.user_properties ?? {},
    context: contextOf(event, AMPLITUDE_EVENT_FIELDS, request),
  };
  return withOptional(record, {
    insert_id: event.insert_id ?? undefined,
    client_time: event.time ?? undefined,
    user_id: event.user_id ?? undefined,
    anonymous_id: event.device_id ?? undefined,
    group_properties: event.group_properties ?? undefined,
    groups: event.groups ?? undefined,
  });
}

const IDENTIFICATION_FIELDS = new Set(['user_id', 'device_id', 'user_properties', 'groups']);

/** An Identify API object: a user-property update with no event, timed at receipt. */
export function fromAmplitudeIdentify(
  identification: AmplitudeIdentification,
  receivedAt: number,
  request?: RequestInfo,
): CanonicalRecord {
  const record: CanonicalRecord = {
    kind: 'identify',
    origin: 'amplitude',
    event_type: '$identify',
    time: receivedAt,
    event_properties: {},
    user_properties: identification.user_properties ?? {},
    context: contextOf(identification, IDENTIFICATION_FIELDS, request),
  };
  return withOptional(record, {
    user_id: identification.user_id ?? undefined,
    anonymous_id: identification.device_id ?? undefined,
    groups: identification.groups ?? undefined,
  });
}

const GROUP_IDENTIFICATION_FIELDS = new Set(['group_type', 'group_value', 'group_properties']);

/** A Group Identify API object: group properties for `{ [group_type]: group_value }`, no user. */
export function fromAmplitudeGroupIdentify(
  identification: AmplitudeGroupIdentification,
  receivedAt: number,
  request?: RequestInfo,
): CanonicalRecord {
  return {
    kind: 'group_identify',
    origin: 'amplitude',
    event_type: '$groupidentify',
    time: receivedAt,
    event_properties: {},
    user_properties: {},
    group_properties: identification.group_properties ?? {},
    groups: { [identification.group_type]: identification.group_value },
    context: contextOf(identification, GROUP_IDENTIFICATION_FIELDS, request),
  };
}

/** An ISO time as epoch ms; undefined for anything else. */
export function parseTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Segment's event time: the client's `timestamp` (else `originalTimestamp`), corrected for the
 * client's clock skew as `receivedAt − (sentAt − timestamp)` when the client says when it sent the
 * call; the receive time when the client gave no time at all.
 */
export function segmentTime(call: SegmentCall, receivedAt: number): number {
  const original = parseTime(call.timestamp ?? call.originalTimestamp);
  if (original === undefined) return receivedAt;
  const sentAt = parseTime(call.sentAt);
  return sentAt === undefined ? original : receivedAt - (sentAt - original);
}

/** The event and client times of a call, when the caller knows them better than segmentTime (webhooks). */
export interface SegmentTimes {
  time: number;
  clientTime: number | undefined;
}

export function fromSegment(
  call: SegmentCall,
  receivedAt: number,
  times: SegmentTimes = {
    time: segmentTime(call, receivedAt),
    clientTime: parseTime(call.timestamp ?? call.originalTimestamp),
  },
): CanonicalRecord {
  const context: Record<string, unknown> = { ...call.context };
  // `integrations` says which destinations a call is meant for; kept so a mapper can honour it.
  if (call.integrations && Object.keys(call.integrations).length > 0 && context.integrations === undefined) {
    context.integrations = call.integrations;
  }
  const contextTraits = call.context?.traits;
  const record: CanonicalRecord = {
    kind: call.type,
    origin: 'segment',
    time: times.time,
    event_properties: {},
    user_properties:
      typeof contextTraits === 'object' && contextTraits !== null && !Array.isArray(contextTraits)
        ? (contextTraits as Record<string, unknown>)
        : {},
    context,
  };
  withOptional(record, {
    insert_id: call.messageId ?? undefined,
    client_time: times.clientTime,
    user_id: call.userId ?? undefined,
    anonymous_id: call.anonymousId ?? undefined,
  });
  switch (call.type) {
    case 'track':
      record.event_type = call.event;
      record.event_properties = call.properties ?? {};
      break;
    case 'identify':
      record.user_properties = call.traits ?? {};
      break;
    case 'page':
    case 'screen': {
      const properties = { ...call.properties };
      // analytics.js copies a page's category into its properties; other clients may not.
      if (call.category && properties.category === undefined) properties.category = call.category;
      record.event_properties = properties;
      withOptional(record, { name: call.name ?? undefined });
      break;
    }
    case 'group':
      record.group_id = call.groupId;
      record.group_properties = call.traits ?? {};
      break;
    case 'alias':
      record.previous_id = call.previousId;
      break;
  }
  return record;
}
