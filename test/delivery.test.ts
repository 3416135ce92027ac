import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { redrive, setCursor, streamStatus } from '../src/control/syncs.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import {
  eventually,
  startEngine,
  testConfig,
  uniqueId,
  WORKER_ENV,
  type TestEngine,
} from './helpers/engine.ts';
import { spawnWorker } from './helpers/processes.ts';

function track(
  userId: string,
  event: string,
  time: number,
  props: Record<string, unknown> = {},
): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'segment',
    event_type: event,
    user_id: userId,
    insert_id: `${userId}/${event}/${time}`,
    time,
    event_properties: props,
    user_properties: {},
    context: {},
  };
}

function streamSync(id: string, source: string, extra = ''): string {
  return `
  - id: ${id}
    type: stream
    source: ${source}
    destination: cio
    events: { properties: { event: '*' } }
    delivery: { waitFor: 1s, credentialsRetry: 1s${extra} }`;
}

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

describe('delivery outcomes', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startEngine();
  });
  afterAll(async () => {
    await engine?.close();
  });

  /** Starts one sync on a source of its own; returns its ids. */
  async function oneSync(extra = '', destinationExtra = '') {
    const source = uniqueId('src');
    const syncId = uniqueId('sync');
    await engine.apply(
      testConfig(engine.fake, streamSync(syncId, source, extra), {
        sources: [source],
        destination: destinationExtra,
      }),
    );
    return { source, syncId };
  }

  const eventsOf = (user: string) => engine.fake.events.filter((e) => e.identifier?.value === user);

  it('dead-letters exactly the items a 207 names, with Customer.io reason, and delivers the rest', async () => {
    // One lane: the three people's events travel in one request, whose item 1 the 207 names.
    const { source, syncId } = await oneSync(', lanes: 1');
    const a = uniqueId('u'),
      b = uniqueId('u'),
      c = uniqueId('u');
    engine.fake.script.failNext(1, {
      path: '/api/v2/batch',
      status: 207,
      applied: true,
      body: {
        errors: [
          { batch_index: 1, reason: 'invalid', field: 'attributes.plan', message: 'plan is not allowed' },
        ],
      },
    });
    const seqs = await engine.store.append(source, [
      track(a, 'One', T0),
      track(b, 'Two', T0),
      track(c, 'Three', T0),
    ]);
    const status = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.cursor === seqs[2] ? s : undefined;
    });
    expect(status.counters).toMatchObject({ delivered: 2, deadLettered: 1 });
    const letters = await engine.store.listDeadLetters(syncId);
    expect(
      letters.map((l) => ({ seq: l.seq, reason: l.reason, detail: l.detail, user: l.record.user_id })),
    ).toEqual([
      {
        seq: seqs[1],
        reason: 'customerio_rejected_item',
        detail: 'invalid: field attributes.plan: plan is not allowed',
        user: b,
      },
    ]);
  });

  it('retries a 429 after its Retry-After and skips nothing', async () => {
    const { source, syncId } = await oneSync();
    const user = uniqueId('u');
    engine.fake.script.failNext(1, { path: '/api/v2/batch', status: 429, retryAfter: 2 });
    const before = engine.fake.requests.length;
    const [seq] = await engine.store.append(source, [track(user, 'Throttled', T0)]);
    await eventually(() => eventsOf(user).length === 1, 20_000);
    const attempts = engine.fake.requests.slice(before).filter((r) => r.path === '/api/v2/batch');
    expect(attempts.map((r) => r.status)).toEqual([429, 200]);
    // Honoured Retry-After: 2 s, not the 1 s initial backoff.
    expect(attempts[1]!.receivedAt - attempts[0]!.receivedAt).toBeGreaterThanOrEqual(1900);
    expect(JSON.stringify(attempts[0]!.body)).toBe(JSON.stringify(attempts[1]!.body));
    const status = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.cursor === seq ? s : undefined;
    });
    expect(status.counters).toMatchObject({ delivered: 1, retried: 1, deadLettered: 0 });
  });

  it('retries 5xx and timeouts with backoff until delivered', async () => {
    const { source } = await oneSync();
    const user = uniqueId('u');
    const before = engine.fake.requests.length;
    engine.fake.script.failNext(1, { path: '/api/v2/batch', status: 503 });
    engine.fake.script.delayNext(1, 2500, { path: '/api/v2/batch' }); // beyond the 2 s client timeout
    await engine.store.append(source, [track(user, 'Flaky', T0)]);
    await eventually(
      () =>
        engine.fake.requests.slice(before).filter((r) => r.path === '/api/v2/batch' && r.status === 200)
          .length >= 2,
      30_000,
    );
    // The delayed request was applied; the retry carries the same event id, so it is stored once.
    await eventually(() => eventsOf(user).length === 1);
    expect(eventsOf(user)).toHaveLength(1);
  });

  it('stops as "credentials rejected" on 401 without advancing, and recovers once the key is fixed', async () => {
    const worker = engine.worker;
    await worker.shutdown();
    const badEnv = { ...WORKER_ENV, CIO_TRACK_API_KEY: 'wrong-key' };
    await engine.restartWorker(badEnv);
    const { source, syncId } = await oneSync();
    const user = uniqueId('u');
    const [seq] = await engine.store.append(source, [track(user, 'Locked Out', T0)]);
    const rejected = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.status === 'credentials_rejected' ? s : undefined;
    });
    expect(rejected.cursor).toBeLessThan(seq!);
    expect(rejected.lastError).toMatchObject({ status: 401 });
    expect(rejected.lastError?.message).not.toContain('wrong-key');
    expect(eventsOf(user)).toEqual([]);

    // Fix the key where it lives: the worker's environment.
    await engine.worker.shutdown();
    await engine.restartWorker(WORKER_ENV);
    const recovered = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.status === 'running' && s.cursor === seq ? s : undefined;
    }, 20_000);
    expect(recovered.counters.delivered).toBe(1);
    expect(eventsOf(user)).toHaveLength(1);
  });

  it('dead-letters records over Customer.io limits and redrives them after a config fix', async () => {
    const { source, syncId } = await oneSync();
    const good = uniqueId('u');
    const longId = `user-${'x'.repeat(160)}`;
    const [, badSeq] = await engine.store.append(source, [
      track(good, 'Fine', T0),
      { ...track(longId, 'Too Long', T0), user_properties: { email: 'long@example.com' } },
    ]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === badSeq);
    const [letter] = await engine.store.listDeadLetters(syncId);
    expect(letter).toMatchObject({ seq: badSeq, reason: 'identifier_too_long' });

    // The fix: identify people by email instead. Apply it, then redrive.
    const fixed = testConfig(
      engine.fake,
      `${streamSync(syncId, source)}\n    identifier: user_properties.email`,
      { sources: [source] },
    );
    expect((await engine.apply(fixed))[0]?.actions).toEqual(['update']);
    const summary = await redrive(engine.client, syncId);
    expect(summary).toMatchObject({ redriven: 1, delivered: 1, deadLettered: 0 });
    expect(
      engine.fake.events.filter((e) => e.identifier?.value === 'long@example.com').map((e) => e.name),
    ).toEqual(['Too Long']);
    expect(await engine.store.listDeadLetters(syncId)).toEqual([]);
  });

  it('records the exact requests instead of sending them in dry-run mode', async () => {
    const { source, syncId } = await oneSync('', '    dryRun: true');
    const user = uniqueId('u');
    const before = engine.fake.requests.length;
    await engine.store.append(source, [track(user, 'Dry', T0, { plan: 'pro' })]);
    const captured = await eventually(async () => {
      const list = await engine.store.listCapturedRequests(syncId);
      return list.length ? list : undefined;
    });
    expect(captured[0]).toMatchObject({
      method: 'POST',
      url: `${engine.fake.url}/api/v2/batch`,
      body: {
        batch: [
          {
            type: 'person',
            action: 'event',
            identifiers: { id: user },
            name: 'Dry',
            timestamp: T0 / 1000,
            attributes: { plan: 'pro' },
          },
        ],
      },
    });
    expect(
      engine.fake.requests
        .slice(before)
        .filter((r) => r.path === '/api/v2/batch' && JSON.stringify(r.body).includes(user)),
    ).toEqual([]);
  });

  it('replays from a rewound cursor with the same event ids, so Customer.io keeps one copy', async () => {
    const { source, syncId } = await oneSync();
    const user = uniqueId('u');
    const seqs = await engine.store.append(source, [track(user, 'A', T0), track(user, 'B', T0 + 1000)]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seqs[1]);
    const ids = eventsOf(user).map((e) => e.id);
    const duplicatesBefore = engine.fake.duplicateEvents.length;
    await setCursor(engine.client, syncId, 0);
    await eventually(() => engine.fake.duplicateEvents.length >= duplicatesBefore + 2);
    expect(eventsOf(user).map((e) => e.id)).toEqual(ids);
    expect(engine.fake.duplicateEvents.slice(duplicatesBefore).map((e) => e.id)).toEqual(ids);
  });

  it('holds the per-destination request rate', async () => {
    const { source, syncId } = await oneSync(', maxRecords: 1', '    requestsPerSecond: 4');
    const users = [uniqueId('u'), uniqueId('u'), uniqueId('u'), uniqueId('u')];
    const before = engine.fake.requests.length;
    const seqs = await engine.store.append(
      source,
      users.map((u, i) => track(u, 'Rated', T0 + i)),
    );
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seqs[3], 20_000);
    const times = engine.fake.requests
      .slice(before)
      .filter((r) => r.path === '/api/v2/batch' && users.some((u) => JSON.stringify(r.body).includes(u)))
      .map((r) => r.receivedAt);
    expect(times).toHaveLength(4);
    // 4 requests/s: reservations 250 ms apart. The lanes send side by side, so arrivals jitter a
    // little around their slots; without the limit they would all arrive at once.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(700);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(180);
  });
});

describe('a worker killed in the middle of a stream', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startEngine();
    await engine.worker.shutdown(); // only the worker processes below serve this queue
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('loses nothing, sends no duplicate ids, and keeps per-user order', async () => {
    const source = uniqueId('src');
    const syncId = uniqueId('crash');
    const env = {
      ...WORKER_ENV,
      CIO_SYNC_STORE: `sqlite:${engine.storePath}`,
      CIO_SYNC_TASK_QUEUE: engine.taskQueue,
    };
    let worker = await spawnWorker(env);
    await engine.apply(
      testConfig(engine.fake, streamSync(syncId, source, ', maxRecords: 20'), { sources: [source] }),
    );
    // Slow Customer.io down so the kill lands mid-stream.
    engine.fake.script.delayNext(1000, 60, { path: '/api/v2/batch' });
    const users = Array.from({ length: 10 }, () => uniqueId('u'));
    const records = Array.from({ length: 400 }, (_, i) =>
      track(users[i % users.length]!, `Step ${Math.floor(i / users.length)}`, T0 + i),
    );
    const seqs = await engine.store.append(source, records);

    await eventually(
      () => engine.fake.events.filter((e) => users.includes(e.identifier?.value ?? '')).length >= 100,
      30_000,
    );
    await worker.kill();
    const deliveredAtKill = engine.fake.events.filter((e) =>
      users.includes(e.identifier?.value ?? ''),
    ).length;
    expect(deliveredAtKill).toBeLessThan(400);

    worker = await spawnWorker(env);
    try {
      await eventually(
        async () => (await streamStatus(engine.client, syncId)).cursor === seqs.at(-1),
        60_000,
      );
    } finally {
      await worker.stop();
    }
    engine.fake.script.clear();
    const ours = engine.fake.events.filter((e) => users.includes(e.identifier?.value ?? ''));
    expect(ours).toHaveLength(400);
    expect(new Set(ours.map((e) => e.id)).size).toBe(400);
    for (const user of users) {
      const steps = ours.filter((e) => e.identifier?.value === user).map((e) => Number(e.name.split(' ')[1]));
      expect(steps).toEqual([...steps].sort((x, y) => x - y));
      expect(steps).toHaveLength(40);
    }
  });
});
