import type { UserUpdate } from './identify.ts';

/**
 * Customer.io Track API v2 operations (`POST /api/v2/batch` items), as far as this engine sends them.
 * Shapes follow the Track OpenAPI spec's `person_*` and `object_*` schemas.
 */

/** Exactly one person identifier per operation: the spec allows no more. `cio_id` is the bare value. */
export type PersonIdentifiers = { id: string } | { email: string } | { cio_id: string };

/**
 * Not in the spec's person identifier list; Segment's Customer.io integration sends it for people it
 * only knows by anonymous id, and Customer.io later attaches those events to whoever gets the same
 * `anonymous_id` attribute. Unverified against the v2 spec.
 */
export interface AnonymousIdentifiers {
  anonymous_id: string;
}

export interface ObjectIdentifiers {
  object_type_id: string;
  object_id: string;
}

export type Attributes = Record<string, unknown>;

export interface PersonEventOp {
  type: 'person';
  action: 'event' | 'page' | 'screen';
  identifiers: PersonIdentifiers | AnonymousIdentifiers;
  name: string;
  /** Deterministic ULID: Customer.io drops a repeated id, which makes redelivery harmless. */
  id: string;
  /** Unix seconds. */
  timestamp: number;
  attributes: Attributes;
}

export interface PersonIdentifyOp {
  type: 'person';
  action: 'identify';
  identifiers: PersonIdentifiers;
  attributes: Attributes;
}

export interface AddDeviceOp {
  type: 'person';
  action: 'add_device';
  identifiers: PersonIdentifiers;
  device: {
    token: string;
    platform: string;
    /** Unix seconds. */
    last_used: number;
    /** The spec types custom device attributes as strings. */
    attributes: Record<string, string>;
  };
}

export interface DeleteDeviceOp {
  type: 'person';
  action: 'delete_device';
  identifiers: PersonIdentifiers;
  device: { token: string };
}

export interface MergeOp {
  type: 'person';
  action: 'merge';
  primary: PersonIdentifiers;
  secondary: PersonIdentifiers;
}

export interface ObjectIdentifyOp {
  type: 'object';
  action: 'identify';
  identifiers: ObjectIdentifiers;
  attributes: Attributes;
  cio_relationships: Array<{ identifiers: PersonIdentifiers }>;
}

export interface ObjectIdentifyAnonymousOp {
  type: 'object';
  action: 'identify_anonymous';
  identifiers: ObjectIdentifiers;
  attributes: Attributes;
  cio_relationships: Array<{ identifiers: AnonymousIdentifiers }>;
}

export type CioBatchOp =
  | PersonEventOp
  | PersonIdentifyOp
  | AddDeviceOp
  | DeleteDeviceOp
  | MergeOp
  | ObjectIdentifyOp
  | ObjectIdentifyAnonymousOp;

/** A reason a record (or part of it) is kept as a dead letter. */
export interface DeadLetterReason {
  reason: string;
  detail?: string;
}

/**
 * What one record becomes: operations to send, or why it is not sent. `user` is what the record
 * does to its user's snapshot (user forwarding), whichever the outcome. A record can be sent and
 * dead-lettered at once: the identify attributes over Customer.io's limits are kept with the reason
 * while the rest goes (`deadLetters`).
 */
export type MapResult =
  | { kind: 'send'; ops: CioBatchOp[]; deadLetters?: DeadLetterReason[]; user?: UserUpdate }
  | { kind: 'filtered'; reason: string; user?: UserUpdate }
  | { kind: 'dead_letter'; reason: string; detail?: string; user?: UserUpdate };
