/** The person identifier of a record: read from its configured path, classed as id, email or cio_id. */
import type { CanonicalRecord } from '../events/record.ts';
import { MAX_IDENTIFIER_BYTES, checkIdentifierValue, utf8Bytes } from '../customerio/limits.ts';
import type { PersonIdentifiers } from './ops.ts';
import { readPath } from './record-path.ts';

/**
 * The identifier value at a configured path (`user_id`, `user_properties.email`, …). Numbers are
 * stringified because Customer.io identifiers are strings and numeric user ids are common; anything
 * else that is not a non-blank string (objects, booleans, `''`, `'  '`) counts as no identifier.
 * Values are not trimmed: an identifier must reach Customer.io exactly as the source sent it.
 */
export function readIdentifier(record: CanonicalRecord, path: string): string | undefined {
  return identifierValue(readPath(record, path));
}

export function identifierValue(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  return value;
}

// The "full" email format of ajv-formats, which Segment's integration uses for the same decision.
const EMAIL =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;

export function isEmailShaped(value: string): boolean {
  return EMAIL.test(value);
}

const CIO_PREFIX = 'cio_';

export type IdentifierResult =
  { ok: true; identifiers: PersonIdentifiers } | { ok: false; reason: 'identifier_too_long'; detail: string };

/**
 * Which Customer.io identifier a value is, the way Customer.io itself reads an identifier: email-shaped
 * → `email`, `cio_…` → `cio_id`, anything else → `id`. v2 wants the bare cio_id (the `cio_` prefix is
 * a v1 path convention). The 150-byte limit is checked on the value as the user wrote it, prefix and
 * all, so a value is accepted or rejected the same way whichever API it would go to.
 */
export function toCioIdentifiers(value: string): IdentifierResult {
  if (utf8Bytes(value) > MAX_IDENTIFIER_BYTES) {
    return { ok: false, reason: 'identifier_too_long', detail: checkIdentifierValue(value) ?? '' };
  }
  const cioId = value.startsWith(CIO_PREFIX) ? value.slice(CIO_PREFIX.length) : '';
  if (cioId !== '') return { ok: true, identifiers: { cio_id: cioId } };
  if (isEmailShaped(value)) return { ok: true, identifiers: { email: value } };
  return { ok: true, identifiers: { id: value } };
}
