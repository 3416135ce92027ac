/**
 * The one record shape everything past ingest sees. Amplitude and Segment calls are normalized
 * into it (src/events/normalize.ts); mapping and delivery never look at vendor payloads.
 *
 * Field names are snake_case on purpose: they are what a config's `identifier`, filter `where`
 * conditions and property selections address (`user_id`, `user_properties.email`, …).
 */
export type RecordKind =
  | 'track'
  | 'identify'
  | 'page'
  | 'screen'
  | 'group'
  | 'alias'
  | 'group_identify'
  /** A request to forget a user (Amplitude's User Privacy API): `user_id` is who, `event_properties.requester` who asked. */
  | 'user_deletion';

export type RecordOrigin = 'amplitude' | 'segment';

export interface CanonicalRecord {
  kind: RecordKind;
  origin: RecordOrigin;
  /** Amplitude `insert_id` / Segment `messageId`: the source's own dedupe key, when it sent one. */
  insert_id?: string;
  /** Track events: Amplitude `event_type` / Segment `event`. Identify records: `$identify`. */
  event_type?: string;
  /** Page and screen name (Segment `name`; Amplitude page title / screen name). */
  name?: string;
  user_id?: string;
  /** Amplitude `device_id` / Segment `anonymousId`. */
  anonymous_id?: string;
  /** Event time, epoch milliseconds (Segment's corrected for the client's clock skew). */
  time: number;
  /**
   * The event time exactly as the client sent it (Amplitude `time`, Segment `timestamp`), absent when
   * it sent none. Unlike `time` it never depends on when the call was sent or received, so it can be
   * part of the event's identity: a client retry carries the same value.
   */
  client_time?: number;
  event_properties: Record<string, unknown>;
  /** Segment traits; Amplitude `user_properties`, which may hold `$set`-style operations. */
  user_properties: Record<string, unknown>;
  group_properties?: Record<string, unknown>;
  /** Amplitude `groups` ({type: name}); Segment group calls put `{ [group_type]: groupId }` here. */
  groups?: Record<string, unknown>;
  /** Segment `groupId` (group calls). */
  group_id?: string;
  /** Segment `previousId` (alias calls). */
  previous_id?: string;
  /** Device, app, page and library context (Segment `context`; Amplitude device fields). */
  context: Record<string, unknown>;
  /**
   * Read from history (an Export API backfill), not received as it happened: user forwarding sends
   * its person updates with their own time, so Customer.io keeps whatever is newer (docs/source-formats.md).
   */
  historical?: true;
}

/** A record as stored in a source's log. `seq` orders the log and is what sync cursors point at. */
export interface LoggedRecord {
  seq: number;
  sourceId: string;
  receivedAt: number;
  record: CanonicalRecord;
}
