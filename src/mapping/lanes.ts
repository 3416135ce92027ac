/** Delivery lanes: which lane of a sync a record belongs to (split by person). */
/**
 * Which delivery lane a record belongs to. A sync's log is split by the person a record concerns
 * (its resolved Customer.io identifier), so each person's records keep their log order in one lane
 * while several lanes have requests on the wire. Pure.
 */
import type { StreamSync } from '../config/schema.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { userKey } from './identify-plan.ts';
import { identifierValue, readIdentifier, toCioIdentifiers } from './person-identifier.ts';

/**
 * A record that concerns more than one person or an object (an alias merges two people; a group
 * call relates a person to an object other people relate to as well): every lane must have passed
 * it before it is sent, and none goes past it until it is settled.
 */
export const BARRIER = 'barrier';

export type Lane = number | typeof BARRIER;

export function laneOf(record: CanonicalRecord, sync: StreamSync, lanes: number): Lane {
  if (lanes <= 1) return 0;
  if (record.kind === 'alias' || record.kind === 'group') return BARRIER;
  const key = personKey(record, sync);
  // No person: the record is filtered or dead-lettered, and lane 0 counts it.
  return key === undefined ? 0 : fnv1a(key) % lanes;
}

/** The person a record concerns, as mapping resolves it; undefined when it names none. */
function personKey(record: CanonicalRecord, sync: StreamSync): string | undefined {
  try {
    const value = readIdentifier(record, sync.identifier);
    if (value !== undefined) {
      const resolved = toCioIdentifiers(value);
      return resolved.ok ? userKey(resolved.identifiers) : undefined;
    }
    const anonymous = sync.anonymous ? identifierValue(record.anonymous_id) : undefined;
    return anonymous === undefined ? undefined : `anonymous_id:${anonymous}`;
  } catch {
    // A record mapping cannot read goes to lane 0, which dead-letters it.
    return undefined;
  }
}

/** 32-bit FNV-1a: fast, stable across processes and versions (lanes must agree on every worker). */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
