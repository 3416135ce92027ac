import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../../src/config/load.ts';
import type { StreamSync } from '../../../src/config/schema.ts';
import { checkAmplitudeEvents } from '../../../src/events/amplitude.ts';
import { fromAmplitudeEvent, fromSegment } from '../../../src/events/normalize.ts';
import { parseSegmentBatch, parseSegmentCall } from '../../../src/events/segment.ts';
import { DEFAULT_LIMITS } from '../../../src/ingest/context.ts';
import { IngestError } from '../../../src/ingest/errors.ts';
import { segmentRecords } from '../../../src/ingest/request-checks.ts';
import { planBatch } from '../../../src/mapping/plan-batch.ts';
import { parsePreviewInput, PreviewInputError, previewCalls } from '../../../src/control/preview.ts';
import { config, ENV, line, NOW } from './preview/fixtures.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

const signup = {
  user_id: 'user-123',
  event_type: 'Signed Up',
  time: 1_764_590_400_000,
  insert_id: 'signup-1',
  user_properties: { email: 'ada@example.com', plan: 'pro' },
};
const anonymous = { device_id: 'device-9f3c2a', event_type: 'Viewed Pricing', time: 1_764_590_410_000 };
const identify = {
  type: 'identify',
  userId: 'user-123',
  messageId: 'm-2',
  timestamp: '2025-12-01T12:00:20.000Z',
  traits: { email: 'ada@example.com', plan: 'pro' },
};

describe('parsePreviewInput', () => {
  it('reads NDJSON line by line, detecting each body on its own, and skips blank lines', () => {
    const text = [
      line({ api_key: 'k', events: [] }),
      '',
      line({ batch: [] }),
      line({ type: 'track', event: 'x', userId: 'u' }),
      '',
    ].join('\n');
    expect(parsePreviewInput(text, 'in.ndjson').map((b) => [b.ref, b.shape])).toEqual([
      ['in.ndjson:1', 'amplitude'],
      ['in.ndjson:3', 'segment-batch'],
      ['in.ndjson:4', 'segment-call'],
    ]);
  });

  it('reads a file that is one pretty-printed body, named by its first line', () => {
    const text = `\n${JSON.stringify({ api_key: 'k', events: [{ event_type: 'a' }] }, null, 2)}\n`;
    expect(parsePreviewInput(text, 'body.json')).toEqual([
      { ref: 'body.json:2', shape: 'amplitude', body: { api_key: 'k', events: [{ event_type: 'a' }] } },
    ]);
  });

  it('names the file and line of a line that is not JSON, or not a call', () => {
    const bad = `${line({ batch: [] })}\n{"type": "track",\n`;
    expect(() => parsePreviewInput(bad, 'in.ndjson')).toThrow(PreviewInputError);
    expect(() => parsePreviewInput(bad, 'in.ndjson')).toThrow(/^in\.ndjson:2: invalid JSON \(/);
    expect(() =>
      parsePreviewInput(`${line({ batch: [] })}\n${line({ type: 'purchase' })}`, 'in.ndjson'),
    ).toThrow('in.ndjson:2: "type": "purchase" is no Segment call type; expected an Amplitude HTTP V2 body');
    expect(() => parsePreviewInput('[1, 2]', 'in.json')).toThrow('in.json:1: not a JSON object;');
    expect(() => parsePreviewInput(' \n', 'in.json')).toThrow('in.json: the file is empty');
  });
});

describe('previewCalls: what delivery sends', () => {
  it('sends what the delivery would: ingest normalization, then planBatch over seqs 1..n', () => {
    const text = [line({ api_key: 'web-key', events: [signup, anonymous] }), line(identify)].join('\n');
    const cfg = config();
    const report = previewCalls(cfg, parsePreviewInput(text, 'in.ndjson'), { now: NOW, env: ENV });

    // The same records ingest would store, in the same order.
    const checked = checkAmplitudeEvents([signup, anonymous], 5);
    if (!checked.ok) throw new Error('fixture events must be valid');
    const parsed = parseSegmentCall(identify, 'identify');
    if (!parsed.ok) throw new Error('fixture call must be valid');
    const records = [
      ...checked.items.map((e) => fromAmplitudeEvent(e, NOW)),
      fromSegment(parsed.calls[0]!, NOW),
    ];
    expect(report.calls).toEqual([
      { ref: 'in.ndjson:1 events[0]', api: 'amplitude', sourceId: 'web', seq: 1, record: records[0] },
      { ref: 'in.ndjson:1 events[1]', api: 'amplitude', sourceId: 'web', seq: 2, record: records[1] },
      { ref: 'in.ndjson:2', api: 'segment', sourceId: 'web', seq: 3, record: records[2] },
    ]);

    const sync = cfg.syncs[0] as StreamSync;
    const logged = records.map((record, i) => ({ seq: i + 1, sourceId: 'web', receivedAt: NOW, record }));
    const plan = planBatch(logged, sync);
    const [preview] = report.syncs;
    expect(preview!.requests).toEqual([
      {
        method: 'POST',
        url: 'https://track.customer.io/api/v2/batch',
        body: { batch: plan.ops.map((o) => o.op) },
        lane: 0,
        bytes: Buffer.byteLength(JSON.stringify({ batch: plan.ops.map((o) => o.op) })),
        seqs: [1],
      },
    ]);
    // The identify and the event of the signup; the Segment identify repeats what was just sent.
    expect(preview!.requests[0]!.body.batch).toEqual([
      {
        type: 'person',
        action: 'identify',
        identifiers: { id: 'user-123' },
        attributes: { email: 'ada@example.com', plan: 'pro' },
      },
      {
        type: 'person',
        action: 'event',
        identifiers: { id: 'user-123' },
        name: 'Signed Up',
        id: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/),
        timestamp: 1_764_590_400,
        attributes: {},
      },
    ]);
    expect(preview!.records).toEqual([
      {
        seq: 1,
        ref: 'in.ndjson:1 events[0]',
        lane: 0,
        outcome: 'sent',
        request: 1,
        operations: 2,
        deadLetters: [],
      },
      { seq: 2, ref: 'in.ndjson:1 events[1]', lane: 0, outcome: 'filtered', reason: 'no_user_id' },
      { seq: 3, ref: 'in.ndjson:2', lane: 0, outcome: 'filtered', reason: 'user_unchanged' },
    ]);
    // Per-record reasons add up to planBatch's own counts.
    expect(preview!.summary).toEqual({ records: 3, sent: 1, filtered: plan.filtered, deadLettered: 0 });
  });

  it('splits deliveries at delivery.maxRecords, carrying user snapshots from one to the next', () => {
    const cfg = parseConfig(
      `sources:
  - { id: web, apiKey: '\${K}' }
destinations:
  - { id: cio, siteId: s, trackApiKey: '\${T:-}', region: eu }
syncs:
  - id: s1
    type: stream
    source: web
    destination: cio
    delivery: { maxRecords: 2 }
    users: { send: true, properties: [plan] }
`,
      'cio.yaml',
    );
    const calls = ['free', 'free', 'pro'].map((plan, i) =>
      line({ type: 'identify', userId: 'user-1', messageId: `m${i}`, traits: { plan } }),
    );
    const report = previewCalls(cfg, parsePreviewInput(calls.join('\n'), 'in'), { now: NOW, env: ENV });
    const [sync] = report.syncs;
    expect(sync!.requests.map((r) => [r.url, r.seqs, r.body.batch])).toEqual([
      [
        'https://track-eu.customer.io/api/v2/batch',
        [1],
        [{ type: 'person', action: 'identify', identifiers: { id: 'user-1' }, attributes: { plan: 'free' } }],
      ],
      [
        'https://track-eu.customer.io/api/v2/batch',
        [3],
        [{ type: 'person', action: 'identify', identifiers: { id: 'user-1' }, attributes: { plan: 'pro' } }],
      ],
    ]);
    expect(
      sync!.records.map((r) => [
        r.seq,
        r.outcome,
        'reason' in r ? r.reason : r.outcome === 'sent' && r.request,
      ]),
    ).toEqual([
      [1, 'sent', 1],
      [2, 'filtered', 'user_unchanged'],
      [3, 'sent', 2],
    ]);
  });
});

describe('previewCalls: what ingest stores', () => {
  it('explains dead letters and calls ingest refuses, keeping none of a refused request', () => {
    const tooLong = { user_id: 'u'.repeat(160), event_type: 'Signed Up', time: 1 };
    const noIds = { event_type: 'Signed Up' };
    const text = [
      line({ api_key: 'web-key', events: [tooLong] }),
      line({ api_key: 'web-key', events: [signup, noIds] }),
      line({
        batch: [
          { type: 'track', userId: 'u1', event: 'A' },
          { type: 'track', event: 'B' },
        ],
      }),
      line({ api_key: 'another-key', events: [signup] }),
    ].join('\n');
    const report = previewCalls(config(), parsePreviewInput(text, 'in'), { now: NOW, env: ENV });
    expect(report.calls.map((c) => [c.ref, c.seq, c.rejected])).toEqual([
      ['in:1', 1, undefined],
      [
        'in:2 events[0]',
        undefined,
        {
          reason: 'invalid_events',
          message: 'not stored: another call of the same request is invalid, and ingest keeps none of it',
        },
      ],
      ['in:2 events[1]', undefined, { reason: 'invalid_events', message: 'missing: user_id, device_id' }],
      [
        'in:3 batch[0]',
        undefined,
        {
          reason: 'invalid_events',
          message: 'not stored: another call of the same request is invalid, and ingest keeps none of it',
        },
      ],
      [
        'in:3 batch[1]',
        undefined,
        { reason: 'invalid_events', message: 'userId: userId or anonymousId is required' },
      ],
      [
        'in:4',
        undefined,
        {
          reason: 'invalid_api_key',
          message:
            'api_key matches no source of the config (as resolved from this environment); pass --source to preview it anyway',
        },
      ],
    ]);
    expect(report.syncs[0]!.records).toEqual([
      {
        seq: 1,
        ref: 'in:1',
        lane: 0,
        outcome: 'dead_letter',
        deadLetters: [{ reason: 'identifier_too_long', detail: 'identifier is 160 bytes, limit 150' }],
      },
    ]);
    expect(report.syncs[0]!.requests).toEqual([]);
  });

  it('resolves source keys from the environment as ingest does, and --source overrides them', () => {
    const text = line({ api_key: 'from-env', events: [signup] });
    const inputs = parsePreviewInput(text, 'in');
    expect(previewCalls(config(), inputs, { now: NOW, env: { WEB_KEY: 'from-env' } }).calls[0]!.seq).toBe(1);
    expect(previewCalls(config(), inputs, { now: NOW, env: ENV }).calls[0]!.rejected?.reason).toBe(
      'invalid_api_key',
    );
    expect(previewCalls(config(), inputs, { now: NOW, env: ENV, sourceId: 'web' }).calls[0]!.seq).toBe(1);
    expect(() => previewCalls(config(), inputs, { now: NOW, sourceId: 'nope' })).toThrow(
      '--source nope: no such source (sources: web)',
    );
  });

  it('sends a Segment call without a write key to the only source, and asks for --source when there are more', () => {
    const inputs = parsePreviewInput(line({ type: 'track', userId: 'user-1', event: 'A' }), 'in');
    expect(previewCalls(config(), inputs, { now: NOW, env: ENV }).calls[0]!.sourceId).toBe('web');
    const two = config('', '  - id: app\n    apiKey: ${APP_KEY}');
    expect(previewCalls(two, inputs, { now: NOW, env: ENV }).calls[0]!.rejected).toEqual({
      reason: 'missing_api_key',
      message: 'no writeKey, and the config has 2 sources: pass --source',
    });
  });

  it('applies a Segment batch envelope as ingest does (shared context, sentAt)', () => {
    const body = { batch: [{ type: 'track', userId: 'user-1', event: 'A' }], context: { ip: '10.0.0.1' } };
    const report = previewCalls(config(), parsePreviewInput(line(body), 'in'), { now: NOW, env: ENV });
    const parsed = parseSegmentBatch(body);
    if (!parsed.ok) throw new Error('fixture batch must be valid');
    expect(report.calls[0]!.record).toEqual(fromSegment(parsed.calls[0]!, NOW));
    expect(report.calls[0]!.record!.context).toEqual({ ip: '10.0.0.1' });
  });
});

describe('previewCalls: notes and the shipped example', () => {
  it('notes paused syncs, dry runs and region auto, and does not preview cohort syncs', () => {
    const cfg = parseConfig(
      `sources:
  - { id: web, apiKey: '\${K}' }
destinations:
  - { id: cio, siteId: s, trackApiKey: '\${T:-}', appApiKey: '\${A:-}', region: auto, dryRun: true }
syncs:
  - { id: s1, type: stream, source: web, destination: cio, status: paused }
  - { id: c1, type: cohort, destination: cio, cohort: { from: file, path: members.csv }, segment: { name: Members } }
`,
      'cio.yaml',
    );
    const report = previewCalls(
      cfg,
      parsePreviewInput(line({ type: 'track', userId: 'user-1', event: 'A' }), 'in'),
      {
        now: NOW,
        env: ENV,
      },
    );
    expect(report.syncs.map((s) => [s.syncId, s.notes, s.requests.map((r) => r.url)])).toEqual([
      [
        's1',
        [
          'paused: it sends nothing until resumed; shown as it would send then',
          'destination cio is a dry run: the worker records these requests instead of sending them',
          'region: auto: the host (track.customer.io or track-eu.customer.io) is asked of Customer.io at run time',
          'lanes: auto: one lane, as for any log of up to 2000 records (4 full requests)',
        ],
        ['/api/v2/batch'],
      ],
      ['c1', ['cohort syncs send cohort members from their own source, not calls: nothing to preview'], []],
    ]);
  });

  it('previews the example config and sample file shipped in examples/', async () => {
    const cfg = parseConfig(await readFile(join(ROOT, 'examples/cio-sync.yaml'), 'utf8'), 'cio-sync.yaml');
    const text = await readFile(join(ROOT, 'examples/sample-calls.ndjson'), 'utf8');
    // The example config has no default key; the sample calls carry make start's development key.
    const env = { ...ENV, WEB_API_KEY: 'dev-web-key' };
    const report = previewCalls(cfg, parsePreviewInput(text, 'sample-calls.ndjson'), { now: NOW, env });
    expect(
      report.syncs[0]!.records.map((r) => [r.seq, r.outcome, 'reason' in r ? r.reason : undefined]),
    ).toEqual([
      [1, 'sent', undefined],
      [2, 'filtered', 'no_user_id'],
      [3, 'sent', undefined],
      [4, 'sent', undefined],
      [5, 'filtered', 'user_unchanged'],
      [6, 'dead_letter', undefined],
    ]);
    expect(report.calls.filter((c) => c.rejected).map((c) => c.ref)).toEqual(['sample-calls.ndjson:5']);
  });
});

describe('previewCalls: ingest’s own request checks', () => {
  /** What the /v1/batch route answers for a body (src/ingest/request-checks.ts). */
  const refusal = (body: unknown): IngestError => {
    try {
      segmentRecords(body, 'batch', DEFAULT_LIMITS, NOW);
    } catch (err) {
      if (err instanceof IngestError) return err;
      throw err;
    }
    throw new Error('ingest accepts the fixture');
  };
  const item = (i: number) => ({ type: 'track', userId: 'user-1', event: 'E', messageId: `m${i}` });

  it('refuses a request as the ingest route does, with its reason, and names the calls at fault', () => {
    const tooMany = {
      batch: Array.from({ length: DEFAULT_LIMITS.segmentMaxItems + 1 }, (_, i) => item(i)),
    };
    const big = {
      batch: [item(0), { ...item(1), properties: { note: 'x'.repeat(DEFAULT_LIMITS.segmentItemBytes) } }],
    };
    const text = [line(tooMany), line(big), line({ batch: [item(2)] })].join('\n');
    const report = previewCalls(config(), parsePreviewInput(text, 'in'), { now: NOW, env: ENV });

    const many = refusal(tooMany);
    expect(many.reason).toBe('too_many_events');
    const first = report.calls.filter((c) => c.ref.startsWith('in:1 '));
    expect(first).toHaveLength(tooMany.batch.length);
    expect(new Set(first.map((c) => JSON.stringify(c.rejected)))).toEqual(
      new Set([JSON.stringify({ reason: many.reason, message: many.message })]),
    );

    const oversize = refusal(big);
    expect(oversize.reason).toBe('payload_too_large');
    const [problem] = oversize.detail.problems!;
    expect(
      report.calls.filter((c) => !c.ref.startsWith('in:1 ')).map((c) => [c.ref, c.seq, c.rejected]),
    ).toEqual([
      [
        'in:2 batch[0]',
        undefined,
        {
          reason: 'invalid_events',
          message: 'not stored: another call of the same request is invalid, and ingest keeps none of it',
        },
      ],
      [
        'in:2 batch[1]',
        undefined,
        { reason: oversize.reason, message: `${problem!.field}: ${problem!.message}` },
      ],
      ['in:3 batch[0]', 1, undefined],
    ]);
  });
});
