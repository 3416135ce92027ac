import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, parseConfig } from '../../../src/config/load.ts';
import { parseDuration } from '../../../src/config/duration.ts';
import { MissingEnvError, isEnvReference, resolveEnv } from '../../../src/config/env.ts';

const VALID = `
sources:
  - id: web
    apiKey: \${WEB_API_KEY}
destinations:
  - id: cio
    siteId: \${CIO_SITE_ID}
    trackApiKey: \${CIO_TRACK_API_KEY}
syncs:
  - id: web-to-cio
    type: stream
    source: web
    destination: cio
`;

function problems(text: string) {
  try {
    parseConfig(text, 'cio.yaml');
  } catch (err) {
    if (err instanceof ConfigError)
      return err.problems.map((p) => `${p.line}:${p.column} ${p.field}: ${p.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('fills documented defaults and keeps ${ENV} references unresolved', () => {
    const config = parseConfig(VALID);
    expect(config.sources[0]?.apiKey).toBe('${WEB_API_KEY}');
    expect(config.destinations[0]).toMatchObject({
      region: 'us',
      dryRun: false,
      requestsPerSecond: 100,
      timeout: 10_000,
    });
    expect(config.syncs[0]).toMatchObject({
      status: 'enabled',
      identifier: 'user_id',
      anonymous: false,
      events: { send: true, properties: { event: [], user: [], group: [] }, pageViews: { as: 'page' } },
      users: { send: false, properties: [], stringify: false },
      delivery: { maxRecords: 500, waitFor: 10_000, credentialsRetry: 60_000 },
    });
  });

  it('names the line, column and field of every problem', () => {
    expect(
      problems(`
sources:
  - id: web
    apiKey: literal-secret
destinations:
  - id: cio
    siteId: s
    trackApiKey: \${K}
    region: mars
syncs:
  - id: a
    type: stream
    source: web
    destination: cio
    colour: blue
    delivery: { waitFor: soon }
`),
    ).toEqual([
      '4:13 sources[0].apiKey: expected a ${ENV_VAR} reference (no :-default): secrets are read from the environment, never written in the config',
      '9:13 destinations[0].region: Invalid option: expected one of "us"|"eu"|"auto"',
      '15:5 syncs[0].colour: unknown field "colour"',
      '16:26 syncs[0].delivery.waitFor: expected a duration such as 500ms, 30s, 15m, 2h or 1d',
    ]);
  });

  it('reports references to unknown sources and destinations, and duplicate ids', () => {
    expect(
      problems(`${VALID}
  - id: web-to-cio
    type: stream
    source: app
    destination: cio
`),
    ).toEqual([
      '15:9 syncs[1].id: duplicate id "web-to-cio"',
      '17:13 syncs[1].source: unknown source "app" (sources: web)',
    ]);
  });

  it('checks filter conditions against their operator', () => {
    expect(
      problems(`${VALID}
    events:
      filter:
        where:
          - { property: event_properties.price, op: greater_than, value: "10" }
          - { property: event_properties.plan, op: in, value: pro }
          - { property: event_properties.plan, op: like, value: pro }
`),
    ).toEqual([
      '18:74 syncs[0].events.filter.where[0].value: op "greater_than" needs a number value',
      '19:63 syncs[0].events.filter.where[1].value: op "in" needs a list of values',
      expect.stringMatching(/^20:52 syncs\[0\]\.events\.filter\.where\[2\]\.op: Invalid option/),
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problems('sources:\n  - id: web\n   apiKey: [\n')[0]).toBe(
      '3:1 : invalid YAML: Sequence item without - indicator',
    );
  });
});

describe('loadConfig', () => {
  it('names a missing file', async () => {
    await expect(loadConfig('/nonexistent/cio.yaml')).rejects.toThrow(
      '/nonexistent/cio.yaml:0:0: cannot read config: no such file',
    );
  });

  it('loads a file and reports problems with its path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cio-config-'));
    const file = join(dir, 'cio.yaml');
    await writeFile(file, 'sources: 3\n');
    await expect(loadConfig(file)).rejects.toThrow(
      `${file}:1:10: sources: Invalid input: expected array, received number`,
    );
  });
});

describe('secret fields', () => {
  it('refuse a ${VAR:-default} (a literal secret in disguise) but take ${VAR} and ${VAR:-}', () => {
    const config = (trackApiKey: string) => `
sources:
  - { id: web, apiKey: "\${WEB_API_KEY:-dev-web-key}" }
destinations:
  - { id: cio, siteId: s, trackApiKey: "${trackApiKey}" }
`;
    expect(problems(config('${K:-}'))).toEqual([
      '3:24 sources[0].apiKey: expected a ${ENV_VAR} reference (no :-default): secrets are read from the environment, never written in the config',
    ]);
    expect(() => parseConfig(config('${K:-literal}').replace(':-dev-web-key', ''))).toThrow(
      /destinations\[0\]\.trackApiKey: expected a \$\{ENV_VAR\} reference \(no :-default\)/,
    );
    expect(() => parseConfig(config('${K}').replace(':-dev-web-key', ''))).not.toThrow();
  });
});

describe('env references', () => {
  it('resolves references, defaults, and names a missing variable without a value', () => {
    expect(isEnvReference('${A}')).toBe(true);
    expect(isEnvReference('${A:-x}')).toBe(true);
    expect(isEnvReference('key-${A}')).toBe(false);
    expect(resolveEnv('${A}', 'x', { A: 'secret' })).toBe('secret');
    expect(resolveEnv('${A:-fallback}', 'x', {})).toBe('fallback');
    expect(() => resolveEnv('${MISSING}', 'destination cio trackApiKey', {})).toThrow(
      new MissingEnvError('MISSING', 'destination cio trackApiKey'),
    );
  });

  it('parses durations', () => {
    expect(['250ms', '30s', '15m', '2h', '1d', 1500].map((d) => parseDuration(d))).toEqual([
      250, 30_000, 900_000, 7_200_000, 86_400_000, 1500,
    ]);
    expect(parseDuration('soon')).toBeUndefined();
  });
});
