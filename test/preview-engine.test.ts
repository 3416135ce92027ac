import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parsePreviewInput, previewCalls } from '../src/control/preview.ts';
import type { RunningIngest } from '../src/ingest/server.ts';
import {
  eventually,
  sourceKeyEnv,
  startEngine,
  startTestIngest,
  testConfig,
  type TestEngine,
} from './helpers/engine.ts';
import { ROOT } from './helpers/processes.ts';

/**
 * `preview` against the engine itself: the sample calls of examples/ go through a real ingest and a
 * stream sync on the dev server to the fake Customer.io, and what arrives there must be exactly the
 * requests the preview printed — the same bodies, byte for byte once parsed, no more and no fewer.
 */

const SOURCE = 'preview-web';
const KEY = `${SOURCE}-key`;

let engine: TestEngine;
let ingest: RunningIngest;

beforeAll(async () => {
  engine = await startEngine();
  ingest = await startTestIngest(engine, [SOURCE]);
});
afterAll(async () => {
  await ingest?.close();
  await engine?.close();
});

/** Sends one body where its shape says (the ingest route the SDKs would use). */
async function send(body: Record<string, unknown>): Promise<number> {
  const segment = { authorization: `Basic ${Buffer.from(`${KEY}:`).toString('base64')}` };
  const [path, headers] =
    'events' in body
      ? ['/2/httpapi', {}]
      : 'batch' in body
        ? ['/v1/batch', segment]
        : [`/v1/${String(body.type)}`, segment];
  const response = await fetch(`${ingest.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return response.status;
}

/**
 * Previews the sample calls for a sync with `lanes`, runs that sync over the source's log from the
 * beginning, and checks the fake received exactly the previewed requests.
 */
async function previewMatchesEngine(lanes: 'auto' | number, text: string): Promise<number> {
  const syncId = `preview-${lanes}-${Date.now()}`;
  // The example sync's settings (examples/cio-sync.yaml), on this test's source and the fake.
  const config = testConfig(
    engine.fake,
    `
  - id: ${syncId}
    type: stream
    source: ${SOURCE}
    destination: cio
    identifier: user_id
    startFrom: beginning
    events:
      send: true
      filter:
        requireUserId: true
      properties:
        event: '*'
        user: [email, plan]
    users:
      send: true
      properties: [email, plan, first_name]
    delivery:
      lanes: ${lanes}
`,
    { sources: [SOURCE] },
  );
  const inputs = parsePreviewInput(text, 'sample-calls.ndjson');
  // The preview resolves the source key from the environment, as ingest does.
  const preview = previewCalls(config, inputs, { now: Date.now(), env: sourceKeyEnv([SOURCE]) });
  const [planned] = preview.syncs;
  engine.fake.reset();
  await engine.apply(config);

  const expected = planned!.requests.map((r) => JSON.stringify(r.body)).sort();
  const received = await eventually(() => {
    const bodies = engine.fake.requestsTo('/api/v2/batch').map((r) => JSON.stringify(r.body));
    return bodies.length >= expected.length ? bodies : undefined;
  });
  // Lanes send side by side, in no fixed order between them: compare the bodies as a set.
  expect(received.sort()).toEqual(expected);
  expect(engine.fake.requestsTo('/api/v2/batch').every((r) => r.status === 200)).toBe(true);
  // Nothing else was sent meanwhile (the dead letter and the filtered calls stay home).
  await new Promise((r) => setTimeout(r, 500));
  expect(engine.fake.requestsTo('/api/v2/batch')).toHaveLength(expected.length);
  const deadLetters = await engine.store.listDeadLetters(syncId, {});
  expect(deadLetters.map((l) => [l.seq, l.reason])).toEqual(
    planned!.records.filter((r) => r.outcome === 'dead_letter').map((r) => [r.seq, 'identifier_too_long']),
  );
  return planned!.requests.length;
}

describe('cio-sync preview', () => {
  it('prints exactly the requests a running stream sync sends for the same calls, on one lane or four', async () => {
    // The example's sample calls, with this test's source key in place of the example's.
    const text = (await readFile(join(ROOT, 'examples/sample-calls.ndjson'), 'utf8')).replaceAll(
      '"dev-web-key"',
      JSON.stringify(KEY),
    );
    // Every call is in the log before the syncs start, as the preview assumes: the lanes then see
    // the whole log at once, and batch it as the preview did.
    const inputs = parsePreviewInput(text, 'sample-calls.ndjson');
    const statuses = [];
    for (const { body } of inputs) statuses.push(await send(body));
    expect(statuses).toEqual(inputs.map((_, i) => (i === 4 ? 400 : 200)));

    // The example's default, `auto`, sends a log this small on one lane: one request.
    expect(await previewMatchesEngine('auto', text)).toBe(1);
    // Four lanes split user-123 and user-456 apart: one request each.
    expect(await previewMatchesEngine(4, text)).toBe(2);
  });
});
