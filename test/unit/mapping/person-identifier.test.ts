import { describe, expect, it } from 'vitest';

import { isEmailShaped, readIdentifier, toCioIdentifiers } from '../../../src/mapping/person-identifier.ts';
import { record } from '../../helpers/mapping.ts';

describe('readIdentifier', () => {
  it.each([
    { name: 'user_id', path: 'user_id', rec: record({ user_id: 'u1' }), value: 'u1' },
    { name: 'anonymous_id', path: 'anonymous_id', rec: record({ anonymous_id: 'a1' }), value: 'a1' },
    {
      name: 'a trait',
      path: 'user_properties.email',
      rec: record({ user_properties: { email: 'a@b.co' } }),
      value: 'a@b.co',
    },
    {
      name: 'a trait inside $set',
      path: 'user_properties.email',
      rec: record({ user_properties: { $set: { email: 'a@b.co' } } }),
      value: 'a@b.co',
    },
    {
      name: 'an event property',
      path: 'event_properties.account.id',
      rec: record({ event_properties: { account: { id: 'acc' } } }),
      value: 'acc',
    },
    {
      name: 'a number, stringified',
      path: 'user_properties.customer_id',
      rec: record({ user_properties: { customer_id: 1234 } }),
      value: '1234',
    },
    { name: 'zero', path: 'user_properties.n', rec: record({ user_properties: { n: 0 } }), value: '0' },
    { name: 'spaces are kept', path: 'user_id', rec: record({ user_id: ' u1 ' }), value: ' u1 ' },
    { name: 'empty string', path: 'user_id', rec: record({ user_id: '' }), value: undefined },
    { name: 'whitespace', path: 'user_id', rec: record({ user_id: ' \t' }), value: undefined },
    { name: 'missing', path: 'user_id', rec: record(), value: undefined },
    {
      name: 'NaN',
      path: 'user_properties.n',
      rec: record({ user_properties: { n: Number.NaN } }),
      value: undefined,
    },
    {
      name: 'a boolean',
      path: 'user_properties.b',
      rec: record({ user_properties: { b: true } }),
      value: undefined,
    },
    {
      name: 'an object',
      path: 'event_properties.account',
      rec: record({ event_properties: { account: { id: 1 } } }),
      value: undefined,
    },
  ])('$name', ({ path, rec, value }) => {
    expect(readIdentifier(rec, path)).toEqual(value);
  });
});

describe('toCioIdentifiers', () => {
  it.each([
    { value: 'u-123', result: { ok: true, identifiers: { id: 'u-123' } } },
    { value: '42', result: { ok: true, identifiers: { id: '42' } } },
    {
      value: 'Ann.Lee+tag@Example.COM',
      result: { ok: true, identifiers: { email: 'Ann.Lee+tag@Example.COM' } },
    },
    { value: 'cio_a3000001', result: { ok: true, identifiers: { cio_id: 'a3000001' } } },
    // Not email-shaped: no domain dot, two @, spaces.
    { value: 'ann@localhost', result: { ok: true, identifiers: { id: 'ann@localhost' } } },
    { value: 'a@@b.co', result: { ok: true, identifiers: { id: 'a@@b.co' } } },
    { value: 'ann lee@example.com', result: { ok: true, identifiers: { id: 'ann lee@example.com' } } },
    // The prefix alone is not a cio_id; the prefix is case-sensitive.
    { value: 'cio_', result: { ok: true, identifiers: { id: 'cio_' } } },
    { value: 'CIO_abc', result: { ok: true, identifiers: { id: 'CIO_abc' } } },
    { value: 'x'.repeat(150), result: { ok: true, identifiers: { id: 'x'.repeat(150) } } },
    {
      value: 'x'.repeat(151),
      result: { ok: false, reason: 'identifier_too_long', detail: 'identifier is 151 bytes, limit 150' },
    },
    // Bytes, not characters: 76 × 'é' is 152 bytes.
    {
      value: 'é'.repeat(76),
      result: { ok: false, reason: 'identifier_too_long', detail: 'identifier is 152 bytes, limit 150' },
    },
    {
      value: `cio_${'a'.repeat(147)}`,
      result: { ok: false, reason: 'identifier_too_long', detail: 'identifier is 151 bytes, limit 150' },
    },
  ])('$value', ({ value, result }) => {
    expect(toCioIdentifiers(value)).toEqual(result);
  });

  it.each([
    ['a@b.co', true],
    ['first.last@sub.example.org', true],
    ['a@b', false],
    ['@b.co', false],
    ['a@b.co.', false],
    ['plain', false],
  ])('isEmailShaped(%s) = %s', (value, shaped) => {
    expect(isEmailShaped(value)).toEqual(shaped);
  });
});
