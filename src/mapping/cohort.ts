/** Cohort member ids as Customer.io ids: which ones the id type refuses, and the attribute a cohort sets. */
import type { CohortSync } from '../config/schema.ts';
import { MAX_IDENTIFIER_BYTES, utf8Bytes } from '../customerio/limits.ts';
import { isEmailShaped } from './person-identifier.ts';

/**
 * Why an id cannot be sent to Customer.io as `idType`, or undefined when it can. Customer.io
 * silently ignores ids that do not match the id type, so they are reported here instead.
 */
export function invalidMemberId(id: string, idType: CohortSync['idType']): string | undefined {
  if (id.length === 0) return 'empty';
  if (utf8Bytes(id) > MAX_IDENTIFIER_BYTES) return 'identifier_too_long';
  if (idType === 'email' && !isEmailShaped(id)) return 'not_an_email';
  if (idType === 'cio_id' && !/^(cio_)?[A-Za-z0-9]+$/.test(id)) return 'not_a_cio_id';
  return undefined;
}

/** snake_case, as Segment names audience traits: "Power Users (30d)" → "power_users_30d". */
export function snakeCase(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

/** The person attribute an `attribute` target sets: configured, else the snake_cased cohort name. */
export function cohortAttributeName(sync: CohortSync): string {
  return sync.attribute ?? snakeCase(sync.segment?.name ?? sync.name ?? sync.id);
}
