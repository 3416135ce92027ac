/**
 * Delivery lanes on the real dev server: a sync's records split by person into lanes, each person's
 * order kept, a merge (two people) ordered against both, and a change of lane count that skips
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { streamStatus } from '../src/control/syncs.ts';
import type { StreamSync } from '../src/config/schema.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import { laneOf } from '../src/mapping/lanes.ts';
import { streamSyncWorkflowId } from '../src/workflows/sync-api.ts';
import { eventually, startEngine, testConfig, uniqueId, type TestEngine } from './helpers/engine.ts';

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

let engine: TestEngine;
beforeAll(async () => {
  engine = await startEngine();
});
afterAll(async () => {
  await engine?.close();
});

function track(userId: string, step: number): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'segment',
    event_type: 'Step',
    user_id: userId,
    insert_id: `${userId}/${step}`,
    time: T0 + step,
    client_time: T0 + step,
    event_properties: { step },
    user_properties: {},
    context: {},
  };
}

function syncYaml(syncId: string, source: string, lanes: number | 'auto'): string {
  return `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    events: { properties: { event: '*' } }
    delivery: { waitFor: 1s, lanes: ${lanes}, maxRecords: 20 }`;
}

async function oneSync(lanes: number | 'auto') {
  const source = uniqueId('src');
  const syncId = uniqueId('lanes');
  const config = testConfig(engine.fake, syncYaml(syncId, source, lanes), { sources: [source] });
  await engine.apply(config);
  return { source, syncId, config };
}

const stepsOf = (user: string) =>
  engine.fake.events.filter((e) => e.identifier?.value === user).map((e) => Number(e.data.step));

/** People whose records fall in different lanes (lane 0 and lane 1 of `lanes`). */
function peopleInLanes(lanes: number, wanted: number[]): string[] {
  const sync = { identifier: 'user_id', anonymous: false } as StreamSync;
  return wanted.map((lane) => {
    for (;;) {
      const user = uniqueId('p');
      if (laneOf(track(user, 0), sync, lanes) === lane) return user;
    }
  });
}

describe('delivery lanes', () => {
  it("split a sync's records by person: every person's events arrive once and in log order", async () => {
    const { source, syncId } = await oneSync(4);
    const users = Array.from({ length: 24 }, () => uniqueId('u'));
    const records = [];
    for (let step = 0; step < 10; step++) for (const user of users) records.push(track(user, step));
    const seqs = await engine.store.append(source, records);
    const head = seqs.at(-1)!;
    const status = await eventually(async () => {
      const s = await streamStatus(engine.client, syncId);
      return s.cursor === head ? s : undefined;
    }, 30_000);
    for (const user of users) expect(stepsOf(user)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(status.lanes).toEqual([head, head, head, head]);
    expect(status.counters.delivered).toBe(records.length);
    expect(await engine.store.getLaneCursors(syncId)).toEqual({
      lanes: 4,
      cursors: [head, head, head, head],
    });
    // Each request carries one lane's people only.
    const ourRequests = engine.fake
      .requestsTo('/api/v2/batch')
      .map((r) =>
        (r.body as { batch: Array<{ identifiers?: { id?: string } }> }).batch.map((op) => op.identifiers?.id),
      )
      .filter((ids) => ids.some((id) => users.includes(id ?? '')));
    const sync = { identifier: 'user_id', anonymous: false } as StreamSync;
    for (const ids of ourRequests) {
      const lanesOfRequest = new Set(ids.map((id) => laneOf(track(id!, 0), sync, 4)));
      expect(lanesOfRequest.size).toBe(1);
    }
  });

  it('send a merge only after both people’s earlier records, and their later ones after it', async () => {
    const { source, syncId } = await oneSync(2);
    const [a, b] = peopleInLanes(2, [0, 1]);
    const alias: CanonicalRecord = {
      kind: 'alias',
      origin: 'segment',
      user_id: a!,
      previous_id: b!,
      insert_id: `${a}/alias`,
      time: T0 + 50,
      event_properties: {},
      user_properties: {},
      context: {},
    };
    // Both people exist at Customer.io before the merge.
    engine.fake.seedPerson({ id: a! });
    engine.fake.seedPerson({ id: b! });
    const seqs = await engine.store.append(source, [
      track(a!, 1),
      track(b!, 1),
      track(b!, 2),
      alias,
      track(a!, 3),
      track(b!, 3),
    ]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seqs.at(-1));
    const requests = engine.fake.requestsTo('/api/v2/batch').filter((r) => {
      const text = JSON.stringify(r.body);
      return text.includes(a!) || text.includes(b!);
    });
    const at = (predicate: (op: Record<string, unknown>) => boolean) =>
      requests.findIndex((r) => (r.body as { batch: Array<Record<string, unknown>> }).batch.some(predicate));
    const merge = at((op) => op.action === 'merge');
    const stepOf = (user: string, step: number) =>
      at(
        (op) =>
          (op.identifiers as { id?: string })?.id === user &&
          (op.attributes as { step?: number })?.step === step,
      );
    expect(merge).toBeGreaterThan(-1);
    expect(stepOf(a!, 1)).toBeLessThan(merge);
    expect(stepOf(b!, 2)).toBeLessThan(merge);
    expect(stepOf(a!, 3)).toBeGreaterThan(merge);
    expect(stepOf(b!, 3)).toBeGreaterThan(merge);
  });

  it('a new lane count skips nothing: the new lanes start where the slowest old one was', async () => {
    const { source, syncId } = await oneSync(2);
    const users = Array.from({ length: 6 }, () => uniqueId('u'));
    const first = await engine.store.append(
      source,
      users.map((u) => track(u, 1)),
    );
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === first.at(-1));
    await engine.apply(testConfig(engine.fake, syncYaml(syncId, source, 3), { sources: [source] }));
    const second = await engine.store.append(
      source,
      users.map((u) => track(u, 2)),
    );
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === second.at(-1));
    for (const user of users) expect(stepsOf(user)).toEqual([1, 2]);
    // The old lanes may have delivered the second records before the new count took over.
    await eventually(async () => (await engine.store.getLaneCursors(syncId))?.lanes === 3);
    // A record an old lane had already sent may go again from the new layout: under the same id,
    // so Customer.io keeps one event (the fake's `events` are what it kept).
    const ours = engine.fake.events.filter((e) => users.includes(e.identifier?.value ?? ''));
    expect(new Set(ours.map((e) => e.id)).size).toBe(ours.length);
  });

  it('lanes: auto runs one lane while it keeps up, four under a backlog, and one again once quiet', async () => {
    const { source, syncId } = await oneSync('auto');
    const few = await engine.store.append(source, [track(uniqueId('u'), 0)]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === few.at(-1));
    expect((await engine.store.getLaneCursors(syncId))?.lanes).toBe(1);

    // A slow Customer.io and 400 records: one lane (20 a request) falls more than 4 requests behind.
    engine.fake.script.delayNext(10, 300, { path: '/api/v2/batch' });
    const users = Array.from({ length: 40 }, () => uniqueId('u'));
    const records = [];
    for (let step = 1; step <= 10; step++) for (const user of users) records.push(track(user, step));
    const seqs = await engine.store.append(source, records);
    await eventually(async () => (await engine.store.getLaneCursors(syncId))?.lanes === 4, 20_000);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seqs.at(-1), 30_000);
    // Growing re-lays nothing already sent: every event arrives once, each person's in order.
    for (const user of users) expect(stepsOf(user)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const ours = engine.fake.events.filter((e) => users.includes(e.identifier?.value ?? ''));
    expect(ours).toHaveLength(records.length);

    // Quiet for AUTO_SHRINK_AFTER_MS (30 s) after growing: back to one lane, at the head.
    await eventually(async () => (await engine.store.getLaneCursors(syncId))?.lanes === 1, 60_000);
    const status = await streamStatus(engine.client, syncId);
    expect(status.lanes).toEqual([seqs.at(-1)]);
    const late = await engine.store.append(source, [track(users[0]!, 11)]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === late.at(-1));
    expect(stepsOf(users[0]!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  }, 120_000);

  it('lanes: auto stays at one lane for a quiet source beside a busy one (seqs are numbered across sources)', async () => {
    const { source, syncId } = await oneSync('auto');
    const first = await engine.store.append(source, [track(uniqueId('u'), 1)]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === first.at(-1));
    // The next request stays on the wire long enough for the lane to look at the head when it is back.
    engine.fake.script.delayNext(1, 1_000, { path: '/api/v2/batch' });
    const user = uniqueId('u');
    await engine.store.append(source, [track(user, 1)]);
    await new Promise((r) => setTimeout(r, 300));
    // Meanwhile another source takes a thousand seqs (fifty full requests of this sync), then this
    // source gets two more records: two, not a thousand, lie after the lane's cursor.
    await engine.store.append(
      uniqueId('busy'),
      Array.from({ length: 1000 }, (_, i) => track(uniqueId('x'), i)),
    );
    const next = await engine.store.append(source, [track(user, 2), track(user, 3)]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === next.at(-1));
    expect(stepsOf(user)).toEqual([1, 2, 3]);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await engine.store.getLaneCursors(syncId))?.lanes).toBe(1);
  }, 60_000);

  it('a request carries what arrived while the one before was on the wire, not just what had arrived when it left', async () => {
    const { source, syncId } = await oneSync(1);
    const user = uniqueId('u');
    const batchSizes = () =>
      engine.fake
        .requestsTo('/api/v2/batch')
        .map(
          (r) =>
            (r.body as { batch: unknown[] }).batch.filter((op) => JSON.stringify(op).includes(user)).length,
        )
        .filter((n) => n > 0);
    // 25 records: a full request of 20 leaves, and the lane reads the other 5 while it is on the wire.
    engine.fake.script.delayNext(1, 1_000, { path: '/api/v2/batch' });
    await engine.store.append(
      source,
      Array.from({ length: 25 }, (_, i) => track(user, i)),
    );
    await eventually(() => batchSizes().length === 1);
    // The 26th arrives during that request: it goes with the 5, not in a third request.
    const last = await engine.store.append(source, [track(user, 25)]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === last.at(-1));
    expect(batchSizes()).toEqual([20, 6]);
    expect(stepsOf(user)).toEqual(Array.from({ length: 26 }, (_, i) => i));
  }, 60_000);

  it.each([1, 2])(
    'a quiet sync with %i lane(s) holds no activity, and its next record still arrives at once (the doorbell)',
    async (lanes) => {
      const { source, syncId } = await oneSync(lanes);
      const handle = engine.client.workflow.getHandle(streamSyncWorkflowId(syncId));
      const pending = async () => (await handle.describe()).raw.pendingActivities ?? [];
      const first = uniqueId('first');
      await engine.store.append(source, [track(first, 0)]);
      await eventually(() => stepsOf(first).length === 1);
      // waitFor is 1 s: six of them without a record, and the lane (or the waiter) hands its slot
      // back and the sync sleeps.
      // (Empty for a moment is not asleep: between two lane runs no activity is pending either.)
      await eventually(async () => {
        if ((await pending()).length > 0) return false;
        await new Promise((r) => setTimeout(r, 1_500));
        return (await pending()).length === 0;
      }, 25_000);
      // Asleep for a while longer, still without an activity.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await pending()).toEqual([]);
      const later = uniqueId('later');
      const appendedAt = Date.now();
      await engine.store.append(source, [track(later, 1)]);
      await eventually(() => stepsOf(later).length === 1, 15_000);
      // Woken by the doorbell, not by its fallback timer (60 s).
      expect(Date.now() - appendedAt).toBeLessThan(15_000);
      expect(stepsOf(later)).toEqual([1]);
    },
  );
});
