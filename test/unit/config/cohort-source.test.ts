import { describe, expect, it } from 'vitest';

import { CohortSourceConfig, cohortSourceVariables } from '../../../src/config/cohort-source.ts';

const parse = (input: unknown) => CohortSourceConfig.safeParse(input);
const issues = (input: unknown) =>
  (parse(input).error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('amplitude', () => {
  it('applies defaults', () => {
    expect(
      CohortSourceConfig.parse({
        from: 'amplitude',
        cohortId: 'abc123',
        apiKey: '${AMP_KEY}',
        secretKey: '${AMP_SECRET}',
      }),
    ).toEqual({
      from: 'amplitude',
      cohortId: 'abc123',
      apiKey: '${AMP_KEY}',
      secretKey: '${AMP_SECRET}',
      region: 'us',
      idProperty: 'user_id',
      pollInterval: 5_000,
      timeout: 1_800_000,
    });
  });

  it('takes a numeric cohort id (YAML reads 123456 as a number), durations, region and a URL override', () => {
    const parsed = CohortSourceConfig.parse({
      from: 'amplitude',
      cohortId: 123456,
      apiKey: '${A}',
      secretKey: '${B:-}',
      region: 'eu',
      url: 'http://127.0.0.1:9999',
      pollInterval: '1s',
      timeout: '2m',
      idProperty: 'email',
    });
    expect(parsed).toMatchObject({ cohortId: '123456', region: 'eu', pollInterval: 1000, timeout: 120_000 });
  });

  it('rejects literal secrets, unknown fields and bad values', () => {
    expect(issues({ from: 'amplitude', cohortId: 'a', apiKey: 'literal', secretKey: '${S}' })).toEqual([
      'apiKey: expected a ${ENV_VAR} reference (no :-default): secrets are read from the environment, never written in the config',
    ]);
    expect(issues({ from: 'amplitude', cohortId: 'a/b', apiKey: '${A}', secretKey: '${S}' })[0]).toMatch(
      /^cohortId:/,
    );
    expect(
      issues({ from: 'amplitude', cohortId: 'a', apiKey: '${A}', secretKey: '${S}', region: 'asia' })[0],
    ).toMatch(/^region:/);
    expect(
      issues({
        from: 'amplitude',
        cohortId: 'a',
        apiKey: '${A}',
        secretKey: '${S}',
        pollInterval: 'soon',
      })[0],
    ).toBe('pollInterval: expected a duration such as 500ms, 30s, 15m, 2h or 1d');
    expect(
      issues({ from: 'amplitude', cohortId: 'a', apiKey: '${A}', secretKey: '${S}', extra: 1 })[0],
    ).toMatch(/extra/);
  });
});

describe('file, url, postgres', () => {
  it('file: path with optional format and column', () => {
    expect(CohortSourceConfig.parse({ from: 'file', path: 'members.csv' })).toEqual({
      from: 'file',
      path: 'members.csv',
    });
    expect(issues({ from: 'file', path: 'm', format: 'xml' })[0]).toMatch(/^format:/);
  });

  it('url: references inside the URL; secret headers must be references, others may be literal', () => {
    const ok = CohortSourceConfig.parse({
      from: 'url',
      url: 'https://example.com/cohort.csv?token=${COHORT_TOKEN}',
      headers: { Authorization: 'Bearer ${TOKEN}', Accept: 'text/csv' },
    });
    expect(ok).toMatchObject({
      headers: { Authorization: 'Bearer ${TOKEN}', Accept: 'text/csv' },
      timeout: 60_000,
    });
    expect(issues({ from: 'url', url: 'https://x.io/a', headers: { 'X-Api-Key': 'abc' } })[0]).toMatch(
      /^headers\.X-Api-Key: header X-Api-Key carries a secret/,
    );
    expect(issues({ from: 'url', url: 'ftp://x.io/a' })).toEqual(['url: expected an http(s) URL']);
  });

  it('postgres: connection string must be a reference', () => {
    expect(
      issues({ from: 'postgres', connectionString: 'postgres://u:p@h/db', query: 'SELECT 1' })[0],
    ).toMatch(/^connectionString: expected a \$\{ENV_VAR\} reference/);
    expect(issues({ from: 'postgres', connectionString: '${DB}', query: '  ' })[0]).toMatch(/^query:/);
  });

  it('an unknown `from` is rejected', () => {
    expect(parse({ from: 'mixpanel' }).success).toBe(false);
  });
});

it('lists the variables a source needs', () => {
  expect(
    cohortSourceVariables(
      CohortSourceConfig.parse({
        from: 'url',
        url: 'https://x.io/${PATH_PART}?t=${TOKEN}',
        headers: { Authorization: 'Bearer ${TOKEN}' },
      }),
    ),
  ).toEqual(['PATH_PART', 'TOKEN']);
  expect(
    cohortSourceVariables(
      CohortSourceConfig.parse({ from: 'amplitude', cohortId: 'a', apiKey: '${A}', secretKey: '${S}' }),
    ),
  ).toEqual(['A', 'S']);
});

it('secret headers: a reference, or an auth scheme and a reference; nothing else literal', () => {
  const headers = (value: string) =>
    issues({ from: 'url', url: 'https://x.io/a', headers: { Authorization: value } });
  expect(headers('${AUTH}')).toEqual([]);
  expect(headers('Bearer ${TOKEN}')).toEqual([]);
  expect(headers('Basic ${CREDS}')).toEqual([]);
  expect(headers('Bearer abc')).toHaveLength(1);
  expect(headers('Bearer abc${TOKEN}')).toHaveLength(1);
  expect(headers('${A}${B}')).toHaveLength(1);
});
