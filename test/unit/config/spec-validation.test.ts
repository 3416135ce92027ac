import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../../src/config/load.ts';
import type { CohortSync, StreamSync } from '../../../src/config/schema.ts';
import {
  assertSameCredentialHosts,
  assertUpdateShape,
  InvalidSpecError,
} from '../../../src/config/spec-rules.ts';
import { assertCohortSyncSpec, assertStreamSyncSpec } from '../../../src/config/spec-validation.ts';

const CONFIG = parseConfig(`
sources:
  - { id: web, apiKey: "\${WEB_API_KEY}" }
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", appApiKey: "\${CIO_APP_API_KEY}" }
syncs:
  - { id: stream, type: stream, source: web, destination: cio, events: { properties: { event: '*' } } }
  - id: hourly
    type: cohort
    destination: cio
    cohort: { from: file, path: members.csv }
    segment: { id: 7 }
    cadence: hourly
  - id: cron
    type: cohort
    destination: cio
    cohort: { from: url, url: "https://lists.example.com/m.csv", headers: { Authorization: "Bearer \${CIO_COHORT_TOKEN}" } }
    segment: { id: 8 }
    cadence: "0 6 * * 1-5"
  - { id: once, type: cohort, destination: cio, cohort: { from: file, path: m.csv }, segment: { id: 9 }, cadence: once }
`);
const destination = CONFIG.destinations[0]!;
const stream = { sync: CONFIG.syncs[0] as StreamSync, destination };
const cohorts = CONFIG.syncs.slice(1).map((sync) => ({ sync: sync as CohortSync, destination }));

function problem(run: () => void): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidSpecError);
    return (err as Error).message;
  }
  throw new Error('expected the spec to be refused');
}

describe('assertStreamSyncSpec', () => {
  it('accepts a spec as the config loader parses it (defaults applied, durations in ms)', () => {
    expect(() => assertStreamSyncSpec(structuredClone(stream))).not.toThrow();
  });

  it('refuses a null list, as the CLI prints an empty one, naming the field', () => {
    const spec = structuredClone(stream) as unknown as {
      sync: { events: { filter: Record<string, unknown> } };
    };
    spec.sync.events.filter.excludeEventTypes = null;
    expect(problem(() => assertStreamSyncSpec(spec))).toBe(
      'invalid spec: sync.events.filter.excludeEventTypes: Invalid input: expected array, received null',
    );
  });

  it('refuses a widened spec: unknown fields anywhere, literal secrets, ${VAR:-default}', () => {
    expect(problem(() => assertStreamSyncSpec({ ...stream, extra: true }))).toBe(
      'invalid spec: spec: unknown field "extra"',
    );
    expect(
      problem(() => assertStreamSyncSpec({ ...stream, destination: { ...destination, proxy: 'http://x' } })),
    ).toBe('invalid spec: destination: unknown field "proxy"');
    for (const trackApiKey of ['plain-key', '${CIO_TRACK_API_KEY:-literal-key}']) {
      expect(
        problem(() => assertStreamSyncSpec({ ...stream, destination: { ...destination, trackApiKey } })),
      ).toBe(
        'invalid spec: destination.trackApiKey: expected a ${ENV_VAR} reference (no :-default): secrets are read from the environment, never written in the config',
      );
    }
    expect(
      problem(() => assertStreamSyncSpec({ ...stream, destination: { ...destination, id: 'other' } })),
    ).toBe("invalid spec: destination.id: does not match the sync's destination");
    expect(problem(() => assertStreamSyncSpec(null))).toMatch(/^invalid spec: spec: /);
  });
});

describe('assertCohortSyncSpec', () => {
  it('accepts parsed cadences (interval, cron, once)', () => {
    for (const spec of cohorts) expect(() => assertCohortSyncSpec(structuredClone(spec))).not.toThrow();
  });

  it('refuses a broken cadence object and a stream sync in its place', () => {
    const spec = structuredClone(cohorts[0]!) as unknown as { sync: Record<string, unknown> };
    spec.sync.cadence = { kind: 'interval', everyMs: 5 };
    expect(problem(() => assertCohortSyncSpec(spec))).toBe(
      'invalid spec: sync.cadence: an interval must be at least 1s',
    );
    expect(problem(() => assertCohortSyncSpec(stream))).toMatch(/^invalid spec: sync\.type: /);
  });
});

describe('assertSameCredentialHosts', () => {
  const at = (trackUrl?: string, dryRun: boolean | 'auto' = false) => ({ destination: { trackUrl, dryRun } });
  it('refuses moving a live sync to another host, allows the same host, the region hosts and dry runs', () => {
    expect(() =>
      assertSameCredentialHosts(at('http://proxy:8080/a'), at('http://proxy:8080/b')),
    ).not.toThrow();
    expect(() => assertSameCredentialHosts(at('http://proxy:8080'), at(undefined))).not.toThrow();
    expect(() => assertSameCredentialHosts(at(undefined, true), at('http://127.0.0.1:9'))).not.toThrow();
    expect(() => assertSameCredentialHosts(at('http://proxy:8080'), at('http://user:pw@evil:8080'))).toThrow(
      new InvalidSpecError(
        'destination.trackUrl cannot move a live sync\'s credentials to another host through updateConfig: "proxy:8080" → "evil:8080"; start the sync anew to change it',
      ),
    );
    expect(() => assertSameCredentialHosts(at(undefined), at('http://127.0.0.1:9'))).toThrow(
      /"region host" → "127\.0\.0\.1:9"/,
    );
  });
});

describe('assertUpdateShape', () => {
  const current = { sync: { id: 'stream' }, destination: { dryRun: false } };
  it('accepts the same sync and type, and names what a replacement changes', () => {
    expect(() =>
      assertUpdateShape('stream', current, { sync: { id: 'stream', type: 'stream' }, destination: {} }),
    ).not.toThrow();
    expect(() => assertUpdateShape('stream', current, { sync: { id: 'stream' } } as never)).toThrow(
      'updateConfig needs { sync, destination }',
    );
    expect(() =>
      assertUpdateShape('stream', current, { sync: { id: 'other', type: 'stream' }, destination: {} }),
    ).toThrow('sync id cannot change (stream → other)');
    expect(() =>
      assertUpdateShape('cohort', current, { sync: { id: 'stream', type: 'stream' }, destination: {} }),
    ).toThrow('a cohort sync cannot become another type');
    expect(() =>
      assertUpdateShape('stream', current, {
        sync: { id: 'stream', type: 'stream' },
        destination: { trackUrl: 'http://evil:1' },
      }),
    ).toThrow(InvalidSpecError);
  });
});
