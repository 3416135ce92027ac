/**
 * The Store contract as tests, run against every backend (sqlite.test.ts, postgres.test.ts): one
 * suite, so the backends cannot drift apart in behaviour. A backend supplies how to make a fresh,
 * empty store location and how to open it, in this process and in a child process.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../events/record.ts';
import type { Migration } from './migrations.ts';
import type { Store } from './store.ts';

const run = promisify(execFile);

/** Options every backend's opener takes. */
export interface ContractOpenOptions {
  now?: () => number;
  migrations?: readonly Migration[];
}

export interface StoreBackend {
  /** The backend's own schema steps: tests open stores with a prefix of them, or one more. */
  migrations: readonly Migration[];
  /** A new, empty place for a store (a file path, a database URL); each test gets its own. */
  fresh(): Promise<string>;
  /** Frees what `fresh` made, once the test's stores are closed. */
  dispose?(location: string): Promise<void>;
  open(location: string, opts?: ContractOpenOptions): Promise<Store>;
  /** How a child process opens a store: a module URL and the name of its opener export. */
  childOpener: { moduleUrl: string; exportName: string };
  /** The versions recorded and the tables present, read without the store. */
  inspect(location: string): Promise<{ versions: number[]; tables: string[] }>;
}

export function rec(n: number, extra: Partial<CanonicalRecord> = {}): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'amplitude',
    event_type: `Event ${n}`,
    user_id: `user-${n}`,
    time: 1_700_000_000_000 + n,
    event_properties: { n, nested: { list: [1, 'two', null] } },
    user_properties: {},
    context: { library: 'test' },
    ...extra,
  };
}

/** Registers the whole contract: event log, dead letters, captures, rate slots, state, user snapshots, schema, cohorts. */
export function describeStoreContract(backend: StoreBackend): void {
  let location: string;
  let opened: Store[];

  async function open(opts?: ContractOpenOptions): Promise<Store> {
    const store = await backend.open(location, opts);
    opened.push(store);
    return store;
  }

  beforeEach(async () => {
    location = await backend.fresh();
    opened = [];
  });

  afterEach(async () => {
    for (const store of opened) await store.close();
    await backend.dispose?.(location);
  });

  /** Runs a script in a separate Node process with `openStore` (the backend's opener) in scope. */
  async function inChildProcess<T>(body: string, ...args: string[]): Promise<T> {
    const { moduleUrl, exportName } = backend.childOpener;
    const script = `
      import { ${exportName} as openStore } from ${JSON.stringify(moduleUrl)};
      const args = process.argv.slice(1);
      const result = await (async () => { ${body} })();
      process.stdout.write(JSON.stringify(result));
    `;
    const { stdout } = await run(process.execPath, [
      '--no-warnings',
      '--input-type=module',
      '-e',
      script,
      ...args,
    ]);
    return JSON.parse(stdout) as T;
  }

  describe('event log', () => {
    it('reads back appended records in seq order, with limits, per source', async () => {
      const store = await open();
      const seqs = await store.append('web', [rec(1), rec(2), rec(3)]);
      await store.append('web', [rec(4), rec(5)]);

      const all = await store.readAfter('web', 0, 100);
      expect(all.map((r) => r.record.event_type)).toEqual([
        'Event 1',
        'Event 2',
        'Event 3',
        'Event 4',
        'Event 5',
      ]);
      expect(all[0]).toMatchObject({ seq: seqs[0], sourceId: 'web', record: rec(1) });
      expect(all[0]!.record.event_properties).toEqual({ n: 1, nested: { list: [1, 'two', null] } });

      const page = await store.readAfter('web', 0, 2);
      expect(page.map((r) => r.record.event_type)).toEqual(['Event 1', 'Event 2']);
      const next = await store.readAfter('web', page[1]!.seq, 2);
      expect(next.map((r) => r.record.event_type)).toEqual(['Event 3', 'Event 4']);
      expect(await store.readAfter('web', all[4]!.seq, 10)).toEqual([]);
      expect(await store.readAfter('web', 0, 0)).toEqual([]);
      expect(await store.append('web', [])).toEqual([]);
    });

    it('reads a record back exactly: key order, NUL, emoji, big and fractional numbers', async () => {
      const store = await open();
      const odd = rec(1, {
        event_properties: { z: 1, a: 2, nul: 'a\u0000b', emoji: '🎉 é', big: 2 ** 53 - 1, frac: 0.1 + 0.2 },
      });
      await store.append('web', [odd]);
      const [back] = await store.readAfter('web', 0, 1);
      expect(JSON.stringify(back!.record)).toBe(JSON.stringify(odd));
    });

    it('assigns increasing seqs and keeps sources apart', async () => {
      const store = await open();
      const a1 = await store.append('a', [rec(1), rec(2)]);
      const b1 = await store.append('b', [rec(3)]);
      const a2 = await store.append('a', [rec(4)]);
      const seqs = [...a1, ...b1, ...a2];
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(4);

      expect((await store.readAfter('a', 0, 10)).map((r) => r.seq)).toEqual([...a1, ...a2]);
      expect((await store.readAfter('b', 0, 10)).map((r) => r.seq)).toEqual(b1);
      expect((await store.readAfter('b', 0, 10)).every((r) => r.sourceId === 'b')).toBe(true);
      expect(await store.readAfter('nobody', 0, 10)).toEqual([]);
    });

    it('answers headSeq, countAfter and seqAtTime', async () => {
      let clock = 1_000;
      const store = await open({ now: () => clock });
      expect(await store.headSeq('web')).toBe(0);
      expect(await store.countAfter('web', 0)).toBe(0);
      expect(await store.seqAtTime('web', 0)).toBe(1);

      const early = await store.append('web', [rec(1), rec(2)]);
      clock = 2_000;
      await store.append('other', [rec(3)]);
      const late = await store.append('web', [rec(4)]);

      expect(await store.headSeq('web')).toBe(late[0]);
      expect(await store.countAfter('web', 0)).toBe(3);
      expect(await store.countAfter('web', early[0]!)).toBe(2);
      expect(await store.countAfter('web', late[0]!)).toBe(0);

      const logged = await store.readAfter('web', 0, 10);
      expect(logged.map((r) => r.receivedAt)).toEqual([1_000, 1_000, 2_000]);
      expect(await store.seqAtTime('web', 0)).toBe(early[0]);
      expect(await store.seqAtTime('web', 1_000)).toBe(early[0]);
      expect(await store.seqAtTime('web', 1_001)).toBe(late[0]);
      expect(await store.seqAtTime('web', 2_000)).toBe(late[0]);
      expect(await store.seqAtTime('web', 2_001)).toBe(late[0]! + 1);
    });

    it('waitForRecords resolves true soon after another connection appends', async () => {
      const reader = await open();
      const writer = await open();
      const head = await reader.headSeq('web');

      const started = performance.now();
      const waiting = reader.waitForRecords('web', head, 5_000);
      setTimeout(() => void writer.append('web', [rec(1)]), 100);
      expect(await waiting).toBe(true);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(90);
      expect(elapsed).toBeLessThan(1_000);

      expect(await reader.waitForRecords('web', head, 5_000)).toBe(true);
    });

    it('waitForRecords resolves false on timeout and ignores other sources', async () => {
      const store = await open();
      const head = await store.headSeq('web');
      setTimeout(() => void store.append('other', [rec(1)]), 20);
      const started = performance.now();
      expect(await store.waitForRecords('web', head, 150)).toBe(false);
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
      expect(await store.waitForRecords('web', head, 0)).toBe(false);
      expect(await store.waitForRecords('other', 0, 0)).toBe(true);
    });

    it('waitForRecords resolves false promptly on abort', async () => {
      const store = await open();
      const controller = new AbortController();
      const started = performance.now();
      const waiting = store.waitForRecords('web', 0, 10_000, controller.signal);
      setTimeout(() => controller.abort(), 50);
      expect(await waiting).toBe(false);
      expect(performance.now() - started).toBeLessThan(1_000);

      await store.append('web', [rec(1)]);
      expect(await store.waitForRecords('web', 0, 10_000, controller.signal)).toBe(false);
    });

    it('waitForRecords resolves false when the store closes under it', async () => {
      const store = await backend.open(location);
      const waiting = store.waitForRecords('web', 0, 10_000);
      await new Promise((r) => setTimeout(r, 50));
      const started = performance.now();
      await store.close();
      expect(await waiting).toBe(false);
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    it('keeps data across close and reopen', async () => {
      const first = await backend.open(location);
      const seqs = await first.append('web', [rec(1), rec(2)]);
      await first.setState('k', 'v');
      await first.addDeadLetters([{ syncId: 's', seq: seqs[0]!, record: rec(1), reason: 'bad' }]);
      await first.close();

      const second = await open();
      expect((await second.readAfter('web', 0, 10)).map((r) => r.record)).toEqual([rec(1), rec(2)]);
      expect(await second.getState('k')).toBe('v');
      expect(await second.countDeadLetters('s')).toBe(1);
      const more = await second.append('web', [rec(3)]);
      expect(more[0]).toBeGreaterThan(seqs[1]!);
    });

    it('loses nothing when two connections append interleaved', async () => {
      const a = await open();
      const b = await open();
      const writes: Promise<number[]>[] = [];
      for (let i = 0; i < 100; i++) {
        writes.push(a.append('web', [rec(i, { insert_id: `a-${i}` })]));
        writes.push(b.append('web', [rec(i, { insert_id: `b-${i}` }), rec(i, { insert_id: `b-${i}-2` })]));
      }
      const seqs = (await Promise.all(writes)).flat();
      expect(new Set(seqs).size).toBe(300);
      const logged = await a.readAfter('web', 0, 1_000);
      expect(logged).toHaveLength(300);
      expect(new Set(logged.map((r) => r.record.insert_id)).size).toBe(300);
    });

    it('never lets a reader see a seq before a smaller one of the same source (concurrent appends)', async () => {
      // Several connections append to one source at once while a reader follows the log the way a
      // sync does (`seq > cursor`). If a seq could commit before a smaller one, the reader would
      // move past the smaller one and only find it later: a record its sync would never deliver.
      const writers = await Promise.all(Array.from({ length: 6 }, () => open()));
      const reader = await open();
      const seen = new Set<number>();
      let cursor = 0;
      let writing = true;
      let appended = 0;
      const following = (async () => {
        while (writing) {
          for (const row of await reader.readAfter('web', cursor, 100_000)) {
            seen.add(row.seq);
            cursor = row.seq;
          }
        }
      })();
      await Promise.all(
        writers.map(async (writer, w) => {
          for (let i = 0; i < 60; i++) {
            // Another source's appends draw from the same sequence and must not interfere.
            const other = i % 5 === 0 ? writer.append('other', [rec(i)]) : Promise.resolve([]);
            const [batch, single] = await Promise.all([
              writer.append(
                'web',
                Array.from({ length: 1 + (i % 7) }, (_, k) => rec(i, { insert_id: `${w}-${i}-${k}` })),
              ),
              writer.append('web', [rec(i, { insert_id: `${w}-${i}-x` })]),
              other,
            ]);
            appended += batch.length + single.length;
          }
        }),
      );
      writing = false;
      await following;
      const all = await reader.readAfter('web', 0, 100_000);
      const skipped = all.filter((row) => row.seq <= cursor && !seen.has(row.seq)).map((row) => row.seq);
      expect({ skipped, total: all.length }).toEqual({ skipped: [], total: appended });
    });

    it('loses nothing when two processes append at the same time', async () => {
      // Created up front so both children find the schema; concurrent creation has its own test.
      await (await backend.open(location)).close();
      const body = `
        const store = await openStore(args[0]);
        const seqs = [];
        for (let i = 0; i < 200; i++) {
          seqs.push(...(await store.append('web', [
            { kind: 'track', origin: 'segment', insert_id: args[1] + '-' + i + '-a', time: i, event_properties: {}, user_properties: {}, context: {} },
            { kind: 'track', origin: 'segment', insert_id: args[1] + '-' + i + '-b', time: i, event_properties: {}, user_properties: {}, context: {} },
          ])));
        }
        await store.close();
        return seqs;
      `;
      const [p, q] = await Promise.all([
        inChildProcess<number[]>(body, location, 'p'),
        inChildProcess<number[]>(body, location, 'q'),
      ]);
      expect(p).toHaveLength(400);
      expect(q).toHaveLength(400);
      expect(new Set([...p, ...q]).size).toBe(800);

      const store = await open();
      const logged = await store.readAfter('web', 0, 10_000);
      expect(logged.map((r) => r.seq)).toEqual([...p, ...q].sort((x, y) => x - y));
      expect(new Set(logged.map((r) => r.record.insert_id)).size).toBe(800);
      // Each batch's two records are adjacent: a transaction is never split by the other process.
      for (let i = 0; i < logged.length; i += 2) {
        expect(logged[i]!.record.insert_id!.replace(/-a$/, '')).toBe(
          logged[i + 1]!.record.insert_id!.replace(/-b$/, ''),
        );
      }
    });
  });

  describe('dead letters', () => {
    it('adds, lists, counts and marks redriven', async () => {
      let clock = 5_000;
      const store = await open({ now: () => clock });
      await store.addDeadLetters([
        { syncId: 's1', seq: 10, record: rec(10), reason: 'invalid_attribute', detail: 'email too long' },
        { syncId: 's1', seq: 11, record: rec(11), reason: 'too_large' },
        { syncId: 's2', seq: 12, record: rec(12), reason: 'other' },
      ]);
      await store.addDeadLetters([]);

      const letters = await store.listDeadLetters('s1');
      expect(letters).toHaveLength(2);
      expect(letters[0]).toEqual({
        id: letters[0]!.id,
        syncId: 's1',
        seq: 10,
        record: rec(10),
        reason: 'invalid_attribute',
        detail: 'email too long',
        createdAt: 5_000,
      });
      expect(letters[1]).not.toHaveProperty('detail');
      expect(letters[1]).not.toHaveProperty('redrivenAt');
      expect(await store.countDeadLetters('s1')).toBe(2);
      expect(await store.countDeadLetters('s2')).toBe(1);
      expect((await store.listDeadLetters('s1', { limit: 1 })).map((l) => l.seq)).toEqual([10]);

      clock = 6_000;
      await store.markRedriven([letters[0]!.id]);
      clock = 7_000;
      await store.markRedriven([letters[0]!.id]);
      await store.markRedriven([]);

      expect((await store.listDeadLetters('s1')).map((l) => l.seq)).toEqual([11]);
      expect(await store.countDeadLetters('s1')).toBe(1);
      const everything = await store.listDeadLetters('s1', { includeRedriven: true });
      expect(everything.map((l) => [l.seq, l.redrivenAt])).toEqual([
        [10, 6_000],
        [11, undefined],
      ]);
      expect(await store.countDeadLetters('s2')).toBe(1);
    });
  });

  describe('durable progress', () => {
    it('keeps one open dead letter per record, reason and detail; a redriven one can fail again', async () => {
      const store = await open();
      const letter = {
        syncId: 's1',
        seq: 10,
        record: rec(10),
        reason: 'customerio_rejected_item',
        detail: 'x',
      };
      await store.addDeadLetters([letter, { ...letter }]);
      await store.addDeadLetters([letter, { ...letter, detail: 'y' }, { ...letter, detail: undefined }]);
      const open1 = await store.listDeadLetters('s1');
      expect(open1.map((l) => l.detail)).toEqual(['x', 'y', undefined]);
      await store.settleDelivery({ syncId: 's1', redriven: [open1[0]!.id], deadLetters: [letter] });
      const all = await store.listDeadLetters('s1', { includeRedriven: true });
      expect(all).toHaveLength(4);
      expect(all.filter((l) => l.redrivenAt === undefined).map((l) => l.detail)).toEqual([
        'y',
        undefined,
        'x',
      ]);
    });

    it('settles a delivery in one step, only from the cursor its lane read', async () => {
      const store = await open();
      expect(await store.getStreamCursor('s1')).toBeUndefined();
      expect(await store.prepareLanes('s1', 'web', 1, 0)).toEqual([0]);
      const snapshot = { attributes: { plan: 'pro' }, state: { plan: 'pro' }, seq: 3 };
      const ok = await store.settleDelivery({
        syncId: 's1',
        cursor: { lane: 0, from: 0, to: 5 },
        deadLetters: [{ syncId: 's1', seq: 4, record: rec(4), reason: 'unprocessable' }],
        userSnapshots: { scope: 's1', entries: [{ userKey: 'id:u', snapshot }] },
      });
      expect(ok).toBe(true);
      expect(await store.getStreamCursor('s1')).toBe(5);
      expect((await store.getUserSnapshots('s1', ['id:u'])).get('id:u')).toEqual(snapshot);

      // A second settlement of the same delivery (a retry after a crash) writes nothing.
      const again = await store.settleDelivery({
        syncId: 's1',
        cursor: { lane: 0, from: 0, to: 5 },
        deadLetters: [{ syncId: 's1', seq: 4, record: rec(4), reason: 'other' }],
        userSnapshots: { scope: 's1', entries: [{ userKey: 'id:v', snapshot }] },
      });
      expect(again).toBe(false);
      expect((await store.listDeadLetters('s1')).map((l) => l.reason)).toEqual(['unprocessable']);
      expect((await store.getUserSnapshots('s1', ['id:v'])).size).toBe(0);
      expect(await store.getStreamCursor('s1')).toBe(5);
      // A lane that was never prepared cannot be settled.
      expect(await store.settleDelivery({ syncId: 's2', cursor: { lane: 0, from: 0, to: 1 } })).toBe(false);
      expect(await store.getStreamCursor('s2')).toBeUndefined();
    });

    it('keeps one cursor per lane; a new lane count starts every lane at the lowest old cursor', async () => {
      const store = await open();
      expect(await store.prepareLanes('s1', 'web', 3, 10)).toEqual([10, 10, 10]);
      expect(await store.prepareLanes('s1', 'web', 3, 99)).toEqual([10, 10, 10]);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 1, from: 10, to: 40 } })).toBe(true);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 2, from: 10, to: 25 } })).toBe(true);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 2, from: 10, to: 30 } })).toBe(false);
      expect(await store.getLaneCursors('s1')).toEqual({ lanes: 3, cursors: [10, 40, 25] });
      expect(await store.getStreamCursor('s1')).toBe(10);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 0, from: 10, to: 20 } })).toBe(true);

      // Several lanes re-laying out at once agree on one layout.
      const laid = await Promise.all([1, 2, 3].map(() => store.prepareLanes('s1', 'web', 2, 0)));
      expect(laid).toEqual([
        [20, 20],
        [20, 20],
        [20, 20],
      ]);
      expect(await store.getLaneCursors('s1')).toEqual({ lanes: 2, cursors: [20, 20] });
    });

    it('sets every lane outright and hands out sequence numbers that never repeat', async () => {
      const store = await open();
      expect(await store.setStreamCursor('s1', 'web', 7)).toBeUndefined();
      expect(await store.getLaneCursors('s1')).toEqual({ lanes: 1, cursors: [7] });
      await store.prepareLanes('s1', 'web', 2, 0);
      await store.settleDelivery({ syncId: 's1', cursor: { lane: 1, from: 7, to: 12 } });
      expect(await store.setStreamCursor('s1', 'web', 2)).toBe(7);
      expect(await store.getLaneCursors('s1')).toEqual({ lanes: 2, cursors: [2, 2] });
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 0, from: 7, to: 9 } })).toBe(false);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 0, from: 2, to: 9 } })).toBe(true);
      expect(await store.getStreamCursor('s1')).toBe(2);

      expect([
        await store.nextSequence('a'),
        await store.nextSequence('a'),
        await store.nextSequence('b'),
      ]).toEqual([1, 2, 1]);
      const reopened = await open();
      expect(await reopened.nextSequence('a')).toBe(3);
      expect(await reopened.getLaneCursors('s1')).toEqual({ lanes: 2, cursors: [9, 2] });
    });
  });

  describe('captured requests', () => {
    it('stores and lists dry-run captures per sync, paged by id', async () => {
      const store = await open({ now: () => 42 });
      const body = {
        batch: [{ type: 'person', action: 'event', name: 'Signed Up', identifiers: { id: 'u1' } }],
      };
      await store.captureRequests([
        {
          syncId: 's1',
          destinationId: 'cio',
          method: 'POST',
          url: 'https://track.customer.io/api/v2/batch',
          body,
        },
        { syncId: 's2', destinationId: 'cio', method: 'PUT', url: 'https://example.test/x', body: 'text' },
        {
          syncId: 's1',
          destinationId: 'cio',
          method: 'POST',
          url: 'https://example.test/y',
          body: undefined,
        },
      ]);

      const s1 = await store.listCapturedRequests('s1');
      expect(s1).toEqual([
        {
          id: s1[0]!.id,
          syncId: 's1',
          destinationId: 'cio',
          method: 'POST',
          url: 'https://track.customer.io/api/v2/batch',
          body,
          createdAt: 42,
        },
        expect.objectContaining({ url: 'https://example.test/y', body: null }),
      ]);
      expect(await store.listCapturedRequests('s1', { limit: 1 })).toEqual([s1[0]]);
      expect(await store.listCapturedRequests('s1', { afterId: s1[0]!.id })).toEqual([s1[1]]);
      expect((await store.listCapturedRequests('s2')).map((r) => r.body)).toEqual(['text']);
    });
  });

  describe('reserveRateSlot', () => {
    it('spaces reservations 1000/perSecond ms apart', async () => {
      const store = await open({ now: () => 1_000_000 });
      const waits: number[] = [];
      for (let i = 0; i < 20; i++) waits.push(await store.reserveRateSlot('cio:track', 100));
      expect(waits).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
      // Another key has its own budget.
      expect(await store.reserveRateSlot('cio:app', 10)).toBe(0);
      expect(await store.reserveRateSlot('cio:app', 10)).toBe(100);
    });

    it('spaces reservations with the real clock', async () => {
      const store = await open();
      const waits: number[] = [];
      for (let i = 0; i < 20; i++) waits.push(await store.reserveRateSlot('k', 100));
      expect(waits[0]).toBe(0);
      for (let i = 1; i < 20; i++) {
        expect(waits[i]).toBeLessThanOrEqual(i * 10);
        expect(waits[i]).toBeGreaterThan(i * 10 - 50);
      }
      expect(waits[19]).toBeGreaterThan(150);
    });

    it('holds across two connections', async () => {
      const now = (): number => 1_000_000;
      const a = await open({ now });
      const b = await open({ now });
      const waits: number[] = [];
      for (let i = 0; i < 10; i++) {
        waits.push(await a.reserveRateSlot('shared', 100));
        waits.push(await b.reserveRateSlot('shared', 100));
      }
      expect(waits).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
      // Reservations racing each other still hand out each slot once.
      const raced = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).reserveRateSlot('raced', 100)),
      );
      expect(raced.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
    });

    it('holds across processes', async () => {
      await (await backend.open(location)).close();
      // A pinned clock makes every slot's wait exact, so the two processes together must hand out
      // each slot once, whatever the interleaving.
      const body = `
        const store = await openStore(args[0], { now: () => 1000000 });
        const waits = [];
        for (let i = 0; i < 40; i++) waits.push(await store.reserveRateSlot('shared', 200));
        await store.close();
        return waits;
      `;
      const [p, q] = await Promise.all([
        inChildProcess<number[]>(body, location),
        inChildProcess<number[]>(body, location),
      ]);
      expect([...p, ...q].sort((x, y) => x - y)).toEqual(Array.from({ length: 80 }, (_, i) => i * 5));
    });

    it('rejects a non-positive rate', async () => {
      const store = await open();
      await expect(store.reserveRateSlot('k', 0)).rejects.toThrow(RangeError);
      await expect(store.reserveRateSlot('k', Number.NaN)).rejects.toThrow(RangeError);
    });
  });

  describe('state', () => {
    it('gets, sets if absent and sets', async () => {
      const store = await open();
      expect(await store.getState('segment:power-users')).toBeUndefined();
      expect(await store.setStateIfAbsent('segment:power-users', '17')).toBe('17');
      expect(await store.setStateIfAbsent('segment:power-users', '18')).toBe('17');
      expect(await store.getState('segment:power-users')).toBe('17');
      await store.setState('segment:power-users', '19');
      expect(await store.getState('segment:power-users')).toBe('19');

      const other = await open();
      expect(await other.setStateIfAbsent('segment:power-users', '20')).toBe('19');
    });

    it('setStateIfAbsent racing from two connections stores one value, and both get it', async () => {
      const a = await open();
      const b = await open();
      const got = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).setStateIfAbsent('race', `v${i}`)),
      );
      expect(new Set(got).size).toBe(1);
      expect(await a.getState('race')).toBe(got[0]);
    });
  });

  describe('user snapshots', () => {
    const snap = (seq: number, attributes: Record<string, unknown>, state = attributes) => ({
      attributes,
      state,
      seq,
    });

    it('gets only the users asked for, per sync; absent users are absent from the map', async () => {
      const store = await open();
      expect(await store.getUserSnapshots('sync-a', [])).toEqual(new Map());
      await store.putUserSnapshots('sync-a', [
        { userKey: 'id:u1', snapshot: snap(3, { plan: 'pro', tags: ['a', 1, null], nested: { x: true } }) },
        { userKey: 'email:ann@example.com', snapshot: snap(4, { seats: 3 }, { seats: 3, plan: 'team' }) },
      ]);
      await store.putUserSnapshots('sync-b', [{ userKey: 'id:u1', snapshot: snap(9, { plan: 'free' }) }]);

      expect(await store.getUserSnapshots('sync-a', ['id:u1', 'email:ann@example.com', 'id:nobody'])).toEqual(
        new Map([
          ['id:u1', snap(3, { plan: 'pro', tags: ['a', 1, null], nested: { x: true } })],
          ['email:ann@example.com', snap(4, { seats: 3 }, { seats: 3, plan: 'team' })],
        ]),
      );
      expect(await store.getUserSnapshots('sync-b', ['id:u1', 'id:u1'])).toEqual(
        new Map([['id:u1', snap(9, { plan: 'free' })]]),
      );
    });

    it('replaces a snapshot, but never with one of a lower seq', async () => {
      const store = await open();
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(5, { plan: 'pro' }) }]);
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(4, { plan: 'stale' }) }]);
      expect((await store.getUserSnapshots('s', ['id:u1'])).get('id:u1')).toEqual(snap(5, { plan: 'pro' }));
      // Same seq: a redrive settles what was delivered without applying anything new.
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(5, { plan: 'team' }) }]);
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(7, {}, { plan: 'x' }) }]);
      expect((await store.getUserSnapshots('s', ['id:u1'])).get('id:u1')).toEqual(snap(7, {}, { plan: 'x' }));
    });

    it('one call naming a user twice leaves what two calls in a row would', async () => {
      const store = await open();
      await store.putUserSnapshots('s', [
        { userKey: 'id:a', snapshot: snap(2, { v: 'a2' }) },
        { userKey: 'id:a', snapshot: snap(1, { v: 'a1' }) },
        { userKey: 'id:b', snapshot: snap(1, { v: 'b1' }) },
        { userKey: 'id:b', snapshot: snap(1, { v: 'b1-again' }) },
      ]);
      const got = await store.getUserSnapshots('s', ['id:a', 'id:b']);
      expect(got).toEqual(
        new Map([
          ['id:a', snap(2, { v: 'a2' })],
          ['id:b', snap(1, { v: 'b1-again' })],
        ]),
      );
    });

    it('reads many keys at once, and keeps __proto__ keys as data', async () => {
      const store = await open();
      const keys = Array.from({ length: 40_000 }, (_, i) => `id:user-${i}`);
      await store.putUserSnapshots(
        's',
        keys.map((userKey, i) => ({ userKey, snapshot: snap(i + 1, { n: i }) })),
      );
      const all = await store.getUserSnapshots('s', keys);
      expect({ size: all.size, last: all.get('id:user-39999') }).toEqual({
        size: 40_000,
        last: snap(40_000, { n: 39_999 }),
      });

      await store.putUserSnapshots('s', [
        {
          userKey: 'id:p',
          snapshot: snap(1, JSON.parse('{"__proto__":{"admin":true}}') as Record<string, unknown>),
        },
      ]);
      const got = (await store.getUserSnapshots('s', ['id:p'])).get('id:p')!;
      expect({
        keys: Object.keys(got.attributes),
        admin: (got.attributes as { admin?: unknown }).admin,
      }).toEqual({
        keys: ['__proto__'],
        admin: undefined,
      });
    });

    it('survives a reopen, and another connection sees it', async () => {
      const store = await open();
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(2, { plan: 'pro' }) }]);
      await store.close();
      const reopened = await open();
      expect((await reopened.getUserSnapshots('s', ['id:u1'])).get('id:u1')).toEqual(
        snap(2, { plan: 'pro' }),
      );
    });
  });

  describe('deletions and suppressions', () => {
    const snap = (seq: number) => ({ attributes: { plan: 'pro' }, state: { plan: 'pro' }, seq });

    it("a delete drops the user's snapshots in every scope named, and only that user's", async () => {
      const store = await open();
      for (const scope of ['s', 's#dry-run', 'other']) {
        await store.putUserSnapshots(scope, [
          { userKey: 'id:u1', snapshot: snap(1) },
          { userKey: 'id:u2', snapshot: snap(1) },
        ]);
      }
      await store.forgetPeople({
        syncId: 's',
        snapshotScopes: ['s', 's#dry-run'],
        changes: [{ userKey: 'id:u1', change: 'delete' }],
      });
      expect([...(await store.getUserSnapshots('s', ['id:u1', 'id:u2'])).keys()]).toEqual(['id:u2']);
      expect([...(await store.getUserSnapshots('s#dry-run', ['id:u1', 'id:u2'])).keys()]).toEqual(['id:u2']);
      expect([...(await store.getUserSnapshots('other', ['id:u1', 'id:u2'])).keys()].sort()).toEqual([
        'id:u1',
        'id:u2',
      ]);
      expect(await store.getSuppressedUsers('s', ['id:u1'])).toEqual(new Set());
    });

    it('suppress drops the snapshot and marks the user suppressed per sync; unsuppress lifts it, in order', async () => {
      const store = await open();
      await store.putUserSnapshots('s', [{ userKey: 'email:ann@example.com', snapshot: snap(3) }]);
      await store.forgetPeople({
        syncId: 's',
        snapshotScopes: ['s'],
        changes: [
          { userKey: 'email:ann@example.com', change: 'suppress' },
          { userKey: 'id:u9', change: 'suppress' },
          { userKey: 'id:u9', change: 'unsuppress' },
        ],
      });
      expect(await store.getUserSnapshots('s', ['email:ann@example.com'])).toEqual(new Map());
      expect(await store.getSuppressedUsers('s', ['email:ann@example.com', 'id:u9', 'id:nobody'])).toEqual(
        new Set(['email:ann@example.com']),
      );
      expect(await store.getSuppressedUsers('other', ['email:ann@example.com'])).toEqual(new Set());
      // Suppressing twice is one suppression; one unsuppress lifts it.
      await store.forgetPeople({
        syncId: 's',
        snapshotScopes: ['s'],
        changes: [{ userKey: 'email:ann@example.com', change: 'suppress' }],
      });
      await store.forgetPeople({
        syncId: 's',
        snapshotScopes: ['s'],
        changes: [{ userKey: 'email:ann@example.com', change: 'unsuppress' }],
      });
      expect(await store.getSuppressedUsers('s', ['email:ann@example.com'])).toEqual(new Set());
      expect(await store.getSuppressedUsers('s', [])).toEqual(new Set());
    });
  });

  describe('schema', () => {
    const versions = backend.migrations.map((m) => m.version);

    it('applies migrations once: open, close, reopen', async () => {
      await (await backend.open(location)).close();
      const first = await backend.inspect(location);
      expect(first.versions).toEqual(versions);
      expect(first.tables).toEqual([
        'captured_requests',
        'cohort_members',
        'cohort_runs',
        'dead_letters',
        'engine_state',
        'event_log',
        'forgotten_people',
        'rate_limits',
        'schema_migrations',
        'sequences',
        'suppressed_users',
        'sync_progress',
        'user_snapshots',
      ]);

      const again = await open();
      await again.append('web', [rec(1)]);
      expect((await backend.inspect(location)).versions).toEqual(first.versions);
    });

    it('applies a later migration to an existing store', async () => {
      await (await backend.open(location)).close();
      const extra = [
        ...backend.migrations,
        { version: 999, name: 'extra', sql: 'CREATE TABLE extra_table (x INTEGER)' },
      ];
      await (await backend.open(location, { migrations: extra })).close();
      await (await backend.open(location, { migrations: extra })).close();
      const after = await backend.inspect(location);
      expect(after.versions).toEqual([...versions, 999]);
      expect(after.tables).toContain('extra_table');
    });

    it('adds user_snapshots (version 2) to a store created at version 1, keeping its data', async () => {
      const v1 = await backend.open(location, {
        migrations: backend.migrations.filter((m) => m.version === 1),
      });
      await v1.append('web', [rec(1)]);
      await v1.close();
      expect((await backend.inspect(location)).tables).not.toContain('user_snapshots');
      const store = await open();
      expect((await backend.inspect(location)).versions).toEqual(versions);
      expect((await store.readAfter('web', 0, 10)).map((r) => r.record)).toEqual([rec(1)]);
      await store.putUserSnapshots('s', [
        { userKey: 'id:u1', snapshot: { attributes: {}, state: {}, seq: 1 } },
      ]);
      expect((await store.getUserSnapshots('s', ['id:u1'])).size).toBe(1);
    });

    it('rolls back a failing migration as a whole', async () => {
      await (await backend.open(location)).close();
      const broken = [
        ...backend.migrations,
        { version: 999, name: 'broken', sql: 'CREATE TABLE t (x INTEGER); SELECT nope FROM nowhere' },
      ];
      await expect(backend.open(location, { migrations: broken })).rejects.toThrow();
      const after = await backend.inspect(location);
      expect(after.tables).not.toContain('t');
      expect(after.versions).toEqual(versions);
    });

    it('rejects migrations out of order', async () => {
      const shuffled = [...backend.migrations].reverse();
      await expect(backend.open(location, { migrations: shuffled })).rejects.toThrow(/increasing versions/);
    });

    it('is safe when several processes create the same new store at once', async () => {
      // The children start at one agreed instant, past Node's start-up, so their opens overlap.
      const body = `
        await new Promise((resolve) => setTimeout(resolve, Number(args[1]) - Date.now()));
        const store = await openStore(args[0]);
        const seqs = await store.append('web', [{ kind: 'track', origin: 'segment', time: 1, event_properties: {}, user_properties: {}, context: {} }]);
        await store.close();
        return seqs;
      `;
      const at = String(Date.now() + 1_500);
      const results = await Promise.all(
        Array.from({ length: 4 }, () => inChildProcess<number[]>(body, location, at)),
      );
      expect(new Set(results.flat()).size).toBe(4);
      expect((await backend.inspect(location)).versions).toEqual(versions);
    });
  });

  describeCohortContract(open);
}

function describeCohortContract(open: (opts?: ContractOpenOptions) => Promise<Store>): void {
  let store: Store;

  async function snapshot(runId: string, ids: string[], baseline?: string) {
    await store.cohorts.beginCohortRun('sync', runId);
    await store.cohorts.addCohortMembers('sync', runId, ids);
    return store.cohorts.completeCohortSnapshot('sync', runId, baseline, 0);
  }

  async function allPages(runId: string, other: string | undefined, limit: number): Promise<string[][]> {
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.cohorts.cohortDiffPage('sync', runId, other, after, limit);
      if (page.length === 0) return pages;
      pages.push(page);
      after = page.at(-1);
    }
  }

  describe('cohort snapshots', () => {
    beforeEach(async () => {
      store = await open({ now: () => 1_000 });
    });

    it('counts a first run as all joiners and pages them in id order', async () => {
      const run = await snapshot('1', ['c', 'a', 'b', 'a']);
      expect(run).toMatchObject({ phase: 'snapshotted', members: 3, toAdd: 3, toRemove: 0 });
      expect(await allPages('1', undefined, 2)).toEqual([['a', 'b'], ['c']]);
    });

    it('orders ids by their bytes, whatever the database collation', async () => {
      const ids = ['b', 'B', 'a', '_x', 'Z10', 'Z9', 'é', 'e', '10', '9', 'a-b', 'ab', '😀', '\uffef'];
      await snapshot('1', ids);
      const bytewise = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect((await allPages('1', undefined, 3)).flat()).toEqual(bytewise);
    });

    it('diffs joiners and leavers against the baseline with keyset pages', async () => {
      await snapshot('1', ['a', 'b', 'c', 'd']);
      await store.cohorts.completeCohortRun('sync', '1');
      const run = await snapshot('2', ['b', 'c', 'e', 'f', 'g'], '1');
      expect(run).toMatchObject({ members: 5, toAdd: 3, toRemove: 2 });
      expect(await allPages('2', '1', 2)).toEqual([['e', 'f'], ['g']]);
      expect(await allPages('1', '2', 10)).toEqual([['a', 'd']]);
    });

    it('takes large member lists in one call and diffs them', async () => {
      const id = (i: number) => `m${String(i).padStart(6, '0')}`;
      await snapshot(
        '1',
        Array.from({ length: 30_000 }, (_, i) => id(i)),
      );
      await store.cohorts.completeCohortRun('sync', '1');
      // Shifted by 5,000: 5,000 leave at the start, 5,000 join at the end; duplicates are ignored.
      const next = Array.from({ length: 30_000 }, (_, i) => id(i + 5_000));
      const run = await snapshot('2', [...next, ...next.slice(0, 1_000)], '1');
      expect(run).toMatchObject({ members: 30_000, toAdd: 5_000, toRemove: 5_000 });
      const joiners = (await allPages('2', '1', 2_000)).flat();
      expect([joiners.length, joiners[0], joiners.at(-1)]).toEqual([5_000, id(30_000), id(34_999)]);
      const leavers = (await allPages('1', '2', 2_000)).flat();
      expect([leavers.length, leavers[0], leavers.at(-1)]).toEqual([5_000, id(0), id(4_999)]);
    });

    it('keeps the old baseline until the new run completes, then drops the old members', async () => {
      await snapshot('1', ['a']);
      await store.cohorts.completeCohortRun('sync', '1');
      await snapshot('2', ['b'], '1');
      await store.cohorts.saveCohortProgress('sync', '2', { phase: 'add', after: 'b', added: 1, removed: 0 });
      expect((await store.cohorts.lastAppliedCohortRun('sync'))?.runId).toBe('1');
      expect(await store.cohorts.getCohortRun('sync', '2')).toMatchObject({
        phase: 'applying',
        progress: { phase: 'add', after: 'b', added: 1, removed: 0 },
      });
      await store.cohorts.completeCohortRun('sync', '2');
      expect(await store.cohorts.lastAppliedCohortRun('sync')).toMatchObject({
        runId: '2',
        phase: 'applied',
        finishedAt: 1_000,
      });
      expect(await store.cohorts.getCohortRun('sync', '1')).toMatchObject({ phase: 'superseded' });
      expect(await store.cohorts.getCohortRun('sync', 'nope')).toBeUndefined();
      expect(await store.cohorts.cohortDiffPage('sync', '1', undefined, undefined, 10)).toEqual([]);
    });

    it('restarting a snapshot empties what the failed attempt had read', async () => {
      await store.cohorts.beginCohortRun('sync', '1');
      await store.cohorts.addCohortMembers('sync', '1', ['stale-1', 'stale-2']);
      const run = await snapshot('1', ['fresh']);
      expect(run.members).toBe(1);
      expect(await allPages('1', undefined, 10)).toEqual([['fresh']]);
    });

    it('drops people deleted in the same workspace since a time from a baseline, as the id type reads them', async () => {
      let now = 1_000;
      store = await open({ now: () => now });
      await snapshot('1', ['u1', 'u2', 'Ann@Example.com', 'cio_abc', 'def', 'keep']);
      await store.cohorts.completeCohortRun('sync', '1');
      const forget = (destinationId: string, keys: string[]) =>
        store.forgetPeople({
          syncId: 'stream',
          snapshotScopes: ['stream'],
          destinationId,
          changes: keys.map((userKey) => ({ userKey, change: 'delete' as const })),
        });
      await forget('cio', ['id:u2']); // at 1_000: before `since` below
      now = 2_000;
      await forget('cio', ['id:u1', 'email:ann@example.com', 'cio_id:abc', 'cio_id:def']);
      await forget('other-workspace', ['id:keep']);

      const drop = (idType: 'id' | 'email' | 'cio_id') =>
        store.cohorts.dropForgottenMembers('sync', '1', { destinationId: 'cio', idType, since: 1_500 });
      expect(await drop('id')).toBe(1);
      expect(await drop('email')).toBe(1);
      expect(await drop('cio_id')).toBe(2);
      expect(await drop('id')).toBe(0);
      expect((await allPages('1', undefined, 10)).flat()).toEqual(['keep', 'u2']);
      expect((await store.cohorts.getCohortRun('sync', '1'))?.members).toBe(2);
      expect(
        await store.cohorts.dropForgottenMembers('sync', '1', {
          destinationId: 'cio',
          idType: 'id',
          since: 0,
        }),
      ).toBe(1);
    });

    it('keeps cohorts of different syncs apart', async () => {
      await snapshot('1', ['a']);
      await store.cohorts.beginCohortRun('other', '1');
      await store.cohorts.addCohortMembers('other', '1', ['z']);
      expect(await store.cohorts.cohortDiffPage('sync', '1', undefined, undefined, 10)).toEqual(['a']);
      expect(await store.cohorts.cohortDiffPage('other', '1', undefined, undefined, 10)).toEqual(['z']);
    });
  });
}
