/** The Customer.io Track API v2 operation types the mapping produces, and what a mapped record is. */
import type { UserSnapshot } from '../store/store.ts';
import type { UserProperties } from './amplitude-user-operations.ts';

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
  /** Unix seconds: only on history (a backfill), so Customer.io keeps a newer profile as it is. */
  timestamp?: number;
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

/**
 * `delete` removes the person and their data (a later call can create them again); `suppress` deletes
 * them and blocks the identifier until `unsuppress` (Track API `person_operations`; no extra fields).
 */
export interface PersonLifecycleOp {
  type: 'person';
  action: 'delete' | 'suppress' | 'unsuppress';
  identifiers: PersonIdentifiers;
}

export interface ObjectDeleteOp {
  type: 'object';
  action: 'delete';
  identifiers: ObjectIdentifiers;
}

export interface ObjectDeleteRelationshipsOp {
  type: 'object';
  action: 'delete_relationships';
  identifiers: ObjectIdentifiers;
  cio_relationships: Array<{ identifiers: PersonIdentifiers }>;
}

export type CioBatchOp =
  | PersonEventOp
  | PersonIdentifyOp
  | AddDeviceOp
  | DeleteDeviceOp
  | MergeOp
  | ObjectIdentifyOp
  | ObjectIdentifyAnonymousOp
  | PersonLifecycleOp
  | ObjectDeleteOp
  | ObjectDeleteRelationshipsOp;

/** The deletes and suppressions a sync sends, by the name `status` counts them under. */
export type DeletionKind =
  'person_delete' | 'person_suppress' | 'person_unsuppress' | 'object_delete' | 'relationship_delete';

/**
 * What a delete or suppression does beyond its operation, once Customer.io has accepted it: counted by
 * kind, and for a person (user key as the snapshots have it) their local state forgotten or blocked.
 */
export interface DeletionEffect {
  kind: DeletionKind;
  person?: { key: string; identifiers: PersonIdentifiers };
}

/** A reason a record (or part of it) is kept as a dead letter. */
export interface DeadLetterReason {
  reason: string;
  detail?: string;
}

/** What a record does to its user's snapshot, to be written once Customer.io has answered. */
export interface UserUpdate {
  key: string;
  /** The snapshot if Customer.io accepts the record's identify (or there is none to accept). */
  next: UserSnapshot;
  /**
   * What the record makes true at Customer.io, typed and before `stringify` (`null` removes): the
   * attributes of its identify, plus attributes dead-lettered for a name or value over the limits.
   */
  patch: UserProperties;
  /** The record carries an identify: its patch counts only if Customer.io accepted the record. */
  withOp: boolean;
}

/**
 * What one record becomes: operations to send, or why it is not sent. `user` is what the record
 * does to its user's snapshot (user forwarding), whichever the outcome. A record can be sent and
 * dead-lettered at once: the identify attributes over Customer.io's limits are kept with the reason
 * while the rest goes (`deadLetters`).
 */
export type MapResult =
  | {
      kind: 'send';
      ops: CioBatchOp[];
      deadLetters?: DeadLetterReason[];
      user?: UserUpdate;
      deletion?: DeletionEffect;
    }
  | { kind: 'filtered'; reason: string; user?: UserUpdate }
  | { kind: 'dead_letter'; reason: string; detail?: string; user?: UserUpdate };
