import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError, parseConfig } from '../../src/config/load.ts';
import {
  caseArbitrary,
  checkAnswer,
  ingestEndpoints,
  REQUEST_DEADLINE_MS,
  requestOf,
  RUNS,
  withDeadline,
  type Answer,
} from '../helpers/fuzz.ts';
import { startHarness, WEB_KEY, type Harness } from './harness.ts';

/**
 * Property-based fuzzing of every ingest endpoint (in-process) and of the config loader. Whatever
 * arrives: no 5xx, no hang, a specific 4xx body in the endpoint's own format, and the endpoint
 * still takes a normal event afterwards. Bounded runs (CIO_SYNC_FUZZ_RUNS per endpoint, 40 by
 * default) so the suite stays fast; a failure prints its seed, which `fc.assert(…, { seed })`
 * replays. test/fuzz-delivery.test.ts runs the same cases through the whole stack.
 */

const WEB_SECRET = 'web-secret-0123456789';
const WEBHOOKS = {
  sourceId: 'web',
  amplitudeSecret: 'amp-hook-0123456789',
  segmentSecret: 'seg-hook-0123456789',
};
const ENDPOINTS = ingestEndpoints(WEB_KEY, WEB_SECRET, WEBHOOKS);

// --- The properties ------------------------------------------------------------------------------

describe('fuzzing every ingest endpoint', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      sources: [
        {
          id: 'web',
          apiKey: WEB_KEY,
          secretKey: WEB_SECRET,
          webhooks: {
            amplitude: { header: 'x-webhook-secret', secret: WEBHOOKS.amplitudeSecret },
            segment: { secret: WEBHOOKS.segmentSecret },
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await h.close();
  });

  async function answer(options: InjectOptions, label: string): Promise<Answer> {
    const response = await withDeadline(h.app.inject(options), label);
    return {
      status: response.statusCode,
      contentType: String(response.headers['content-type'] ?? ''),
      text: response.body,
    };
  }

  it.each(['amplitude', 'identify', 'segment', 'deletions', 'webhook'] as const)(
    '%s: whatever arrives, no 5xx, no hang, a specific 4xx body',
    async (family) => {
      const endpoints = ENDPOINTS.filter((e) => e.family === family);
      await fc.assert(
        fc.asyncProperty(caseArbitrary(endpoints, WEB_KEY), async (c) => {
          const endpoint = endpoints[c.endpoint]!;
          const label = `${c.method ?? 'POST'} ${endpoint.url}`;
          checkAnswer(endpoint, await answer(requestOf(endpoint, c), label), label);
        }),
        { numRuns: RUNS * endpoints.length, endOnFailure: true },
      );
      // Each endpoint still takes a normal request afterwards, and stores it.
      for (const endpoint of endpoints) {
        const before = (await h.records()).length;
        const response = await answer(
          requestOf(endpoint, { endpoint: 0, body: endpoint.encode(endpoint.valid()) }),
          endpoint.url,
        );
        expect(response.status, `${endpoint.url}: ${response.text}`).toBe(200);
        expect((await h.records()).length, endpoint.url).toBeGreaterThan(before);
      }
    },
  );
});

describe('fuzzing the config loader', () => {
  const VALID = `
sources:
  - { id: web, apiKey: "\${WEB_API_KEY}" }
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", dryRun: auto }
syncs:
  - id: web-to-cio
    type: stream
    source: web
    destination: cio
    events: { filter: { where: [{ property: event_properties.plan, op: equals, value: pro }] } }
  - { id: c, type: cohort, destination: cio, cohort: { from: file, path: m.csv }, segment: { id: 1 }, cadence: "0 6 * * *" }
`;

  /** The loader either parses or throws a ConfigError with a line for each problem; nothing else. */
  function check(text: string): void {
    const started = Date.now();
    try {
      parseConfig(text, 'fuzz.yaml');
    } catch (err) {
      expect(err, String(err)).toBeInstanceOf(ConfigError);
      for (const p of (err as ConfigError).problems) {
        expect(p.file).toBe('fuzz.yaml');
        expect(p.message).not.toBe('');
      }
    }
    expect(Date.now() - started).toBeLessThan(REQUEST_DEADLINE_MS);
  }

  it('random text, mutated configs, deep nesting and odd bytes are a ConfigError or a config', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 400 }),
          fc.string({ unit: 'binary', maxLength: 400 }),
          fc
            .record({ at: fc.nat(), cut: fc.nat({ max: 40 }), insert: fc.string({ maxLength: 20 }) })
            .map(({ at, cut, insert }) => {
              const i = at % VALID.length;
              return VALID.slice(0, i) + insert + VALID.slice(i + cut);
            }),
          fc
            .record({ depth: fc.integer({ min: 10, max: 5000 }), flow: fc.boolean() })
            .map(({ depth, flow }) =>
              flow
                ? `sources: ${'['.repeat(depth)}${']'.repeat(depth)}`
                : `sources:\n${Array.from({ length: Math.min(depth, 300) }, (_, i) => `${' '.repeat(i * 2)}- a:`).join('\n')}`,
            ),
          fc.jsonValue({ maxDepth: 4 }).map((v) => `syncs: ${JSON.stringify(v)}`),
          fc.constantFrom(
            '&a [*a, *a]',
            'a: &x [*x]',
            '!!binary x',
            '? [a]: b',
            '---\n---\n',
            '%YAML 9.9\n---',
          ),
        ),
        (text) => check(text),
      ),
      { numRuns: RUNS * 5 },
    );
  });
});
