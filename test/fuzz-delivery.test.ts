import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { streamStatus } from '../src/control/syncs.ts';
import type { RunningIngest } from '../src/ingest/server.ts';
import { caseArbitrary, checkAnswer, ingestEndpoints, requestOf, withDeadline } from './helpers/fuzz.ts';
import {
  eventually,
  sourceKeyEnv,
  startEngine,
  startTestIngest,
  testConfig,
  uniqueId,
  type TestEngine,
} from './helpers/engine.ts';

/**
 * The fuzz cases of test/ingest/fuzz.test.ts sent over real HTTP to a running ingest server whose
 * source a running stream sync delivers: after the hostile traffic, a normal Amplitude event and a
 * normal Segment call still reach (fake) Customer.io.
 */

const SOURCE = 'fuzzed';
const KEY = Object.values(sourceKeyEnv([SOURCE]))[0]!;
const RUNS = Number(process.env.CIO_SYNC_FUZZ_RUNS ?? 40);

describe('fuzzed ingest through the whole stack', () => {
  let engine: TestEngine;
  let ingest: RunningIngest;
  let syncId = '';
  beforeAll(async () => {
    engine = await startEngine();
    ingest = await startTestIngest(engine, [SOURCE]);
    syncId = uniqueId('fuzz');
    await engine.apply(
      testConfig(
        engine.fake,
        `
  - id: ${syncId}
    type: stream
    source: ${SOURCE}
    destination: cio
    anonymous: true
    delivery: { waitFor: 1s }
`,
        { sources: [SOURCE] },
      ),
    );
  });
  afterAll(async () => {
    await ingest?.close();
    await engine?.close();
  });

  it('answers every hostile request with a 4xx of its own format, then still delivers normal events', async () => {
    const endpoints = ingestEndpoints(KEY);
    await fc.assert(
      fc.asyncProperty(caseArbitrary(endpoints, KEY), async (c) => {
        const endpoint = endpoints[c.endpoint]!;
        const options = requestOf(endpoint, c);
        const label = `${options.method} ${options.url}`;
        let response: Response;
        try {
          response = await withDeadline(
            fetch(`${ingest.url}${options.url}`, {
              method: options.method,
              headers: options.headers as Record<string, string>,
              body: options.method === 'GET' ? undefined : (options.payload as string | Buffer),
            }),
            label,
          );
        } catch (err) {
          // fetch itself refuses some generated header values; nothing was sent.
          if (err instanceof TypeError && !/fetch failed/.test(err.message)) return;
          throw err;
        }
        checkAnswer(
          endpoint,
          {
            status: response.status,
            contentType: response.headers.get('content-type') ?? '',
            text: await response.text(),
          },
          label,
        );
      }),
      { numRuns: RUNS, endOnFailure: true },
    );

    const amplitudeUser = uniqueId('amp-user');
    const segmentUser = uniqueId('seg-user');
    const amplitude = await fetch(`${ingest.url}/2/httpapi`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: KEY, events: [{ event_type: 'After Fuzz', user_id: amplitudeUser }] }),
    });
    expect(await amplitude.json()).toMatchObject({ code: 200, events_ingested: 1 });
    const segment = await fetch(`${ingest.url}/v1/track`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`,
      },
      body: JSON.stringify({ event: 'After Fuzz', userId: segmentUser }),
    });
    expect(await segment.json()).toEqual({ success: true });

    const head = await engine.store.headSeq(SOURCE);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor >= head, 30_000);
    for (const user of [amplitudeUser, segmentUser]) {
      expect(engine.fake.events.filter((e) => e.identifier?.value === user).map((e) => e.name)).toEqual([
        'After Fuzz',
      ]);
    }
  });
});
