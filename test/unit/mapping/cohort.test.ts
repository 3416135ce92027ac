import { describe, expect, it } from 'vitest';

import { invalidMemberId, snakeCase } from '../../../src/mapping/cohort.ts';

describe('invalidMemberId', () => {
  it.each([
    ['user-1', 'id', undefined],
    ['x'.repeat(151), 'id', 'identifier_too_long'],
    ['ada@example.com', 'email', undefined],
    ['not-an-email', 'email', 'not_an_email'],
    ['cio_03000001', 'cio_id', undefined],
    ['03000001', 'cio_id', undefined],
    ['cio_bad id', 'cio_id', 'not_a_cio_id'],
  ] as const)('%s as %s → %s', (id, idType, reason) => {
    expect(invalidMemberId(id, idType)).toBe(reason);
  });
});

describe('snakeCase', () => {
  it.each([
    ['Power Users', 'power_users'],
    ['Power Users (30d)', 'power_users_30d'],
    ['trialEnded', 'trial_ended'],
    ['Café Regulars', 'cafe_regulars'],
  ])('%s → %s', (name, snake) => {
    expect(snakeCase(name)).toBe(snake);
  });
});
