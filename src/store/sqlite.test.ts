import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CanonicalRecord } from '../events/record.ts';
import { openStore } from './index.ts';
import { migrations } from './migrations.ts';
import { openSqliteStore } from './sqlite.ts';
import type { SqliteStoreOptions } from './sqlite.ts';
import type { Store } from './store.ts';

const run = promisify(execFile);

function rec(n: number, extra: Partial<CanonicalRecord> = {}): CanonicalRecord {
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

let dir: string;
let file: string;
let opened: Store[];

async function open(opts?: SqliteStoreOptions, path = file): Promise<Store> {
  const store = await openSqliteStore(path, opts);
  opened.push(store);
  return store;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cio-sync-store-'));
  file = join(dir, 'store.db');
  opened = [];
});

afterEach(async () => {
  for (const store of opened) await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs a script in a separate Node process with `openSqliteStore` in scope; resolves to its JSON output. */
async function inChildProcess<T>(body: string, ...args: string[]): Promise<T> {
  const sqliteUrl = pathToFileURL(join(import.meta.dirname, 'sqlite.ts')).href;
  const script = `
    import { openSqliteStore } from ${JSON.stringify(sqliteUrl)};
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
    const store = await openSqliteStore(file);
    const waiting = store.waitForRecords('web', 0, 10_000);
    await store.close();
    expect(await waiting).toBe(false);
  });

  it('keeps data across close and reopen', async () => {
    const first = await openSqliteStore(file);
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

  it('loses nothing when two processes append at the same time', async () => {
    // Created up front so both children find the schema; concurrent creation has its own test.
    await (await openSqliteStore(file)).close();
    const body = `
      const store = await openSqliteStore(args[0]);
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
      inChildProcess<number[]>(body, file, 'p'),
      inChildProcess<number[]>(body, file, 'q'),
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
      { syncId: 's1', destinationId: 'cio', method: 'POST', url: 'https://example.test/y', body: undefined },
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

  it('holds across two connections to the same file', async () => {
    const now = (): number => 1_000_000;
    const a = await open({ now });
    const b = await open({ now });
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      waits.push(await a.reserveRateSlot('shared', 100));
      waits.push(await b.reserveRateSlot('shared', 100));
    }
    expect(waits).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
  });

  it('holds across processes', async () => {
    await (await openSqliteStore(file)).close();
    // A pinned clock makes every slot's wait exact, so the two processes together must hand out
    // each slot once, whatever the interleaving.
    const body = `
      const store = await openSqliteStore(args[0], { now: () => 1000000 });
      const waits = [];
      for (let i = 0; i < 40; i++) waits.push(await store.reserveRateSlot('shared', 200));
      await store.close();
      return waits;
    `;
    const [p, q] = await Promise.all([
      inChildProcess<number[]>(body, file),
      inChildProcess<number[]>(body, file),
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
    expect((await reopened.getUserSnapshots('s', ['id:u1'])).get('id:u1')).toEqual(snap(2, { plan: 'pro' }));
  });
});

describe('schema', () => {
  function inspect(path: string): { versions: number[]; journalMode: unknown; tables: string[] } {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      return {
        versions: db
          .prepare('SELECT version FROM schema_migrations ORDER BY version')
          .all()
          .map((r) => Number(r.version)),
        journalMode: db.prepare('PRAGMA journal_mode').get()?.journal_mode,
        tables: db
          .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
          )
          .all()
          .map((r) => String(r.name)),
      };
    } finally {
      db.close();
    }
  }

  it('applies migrations once: open, close, reopen', async () => {
    await (await openSqliteStore(file)).close();
    const first = inspect(file);
    expect(first.versions).toEqual(migrations.map((m) => m.version));
    expect(first.journalMode).toBe('wal');
    expect(first.tables).toEqual([
      'captured_requests',
      'cohort_members',
      'cohort_runs',
      'dead_letters',
      'engine_state',
      'event_log',
      'rate_limits',
      'schema_migrations',
      'user_snapshots',
    ]);

    const again = await open();
    await again.append('web', [rec(1)]);
    expect(inspect(file).versions).toEqual(first.versions);
  });

  it('applies a later migration to an existing store', async () => {
    await (await openSqliteStore(file)).close();
    const extra = [
      ...migrations,
      { version: 999, name: 'extra', sql: 'CREATE TABLE extra_table (x INTEGER)' },
    ];
    await (await openSqliteStore(file, { migrations: extra })).close();
    await (await openSqliteStore(file, { migrations: extra })).close();
    expect(inspect(file).versions).toEqual([...migrations.map((m) => m.version), 999]);
    expect(inspect(file).tables).toContain('extra_table');
  });

  it('adds user_snapshots (version 2) to a store created at version 1, keeping its data', async () => {
    const v1 = await openSqliteStore(file, { migrations: migrations.filter((m) => m.version === 1) });
    await v1.append('web', [rec(1)]);
    await v1.close();
    expect(inspect(file).tables).not.toContain('user_snapshots');
    const store = await open();
    expect(inspect(file).versions).toEqual(migrations.map((m) => m.version));
    expect((await store.readAfter('web', 0, 10)).map((r) => r.record)).toEqual([rec(1)]);
    await store.putUserSnapshots('s', [
      { userKey: 'id:u1', snapshot: { attributes: {}, state: {}, seq: 1 } },
    ]);
    expect((await store.getUserSnapshots('s', ['id:u1'])).size).toBe(1);
  });

  it('rolls back a failing migration as a whole', async () => {
    const broken = [
      ...migrations,
      { version: 999, name: 'broken', sql: 'CREATE TABLE t (x); SELECT nope FROM nowhere' },
    ];
    await expect(openSqliteStore(file, { migrations: broken })).rejects.toThrow();
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      expect(
        db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 't'").get()?.n,
      ).toBe(0);
    } finally {
      db.close();
    }
  });

  it('is safe when several processes create the same new file at once', async () => {
    const body = `
      const store = await openSqliteStore(args[0]);
      const seqs = await store.append('web', [{ kind: 'track', origin: 'segment', time: 1, event_properties: {}, user_properties: {}, context: {} }]);
      await store.close();
      return seqs;
    `;
    const results = await Promise.all(Array.from({ length: 4 }, () => inChildProcess<number[]>(body, file)));
    expect(new Set(results.flat()).size).toBe(4);
    expect(inspect(file).versions).toEqual(migrations.map((m) => m.version));
  });
});

describe('openStore', () => {
  it('opens sqlite: URLs and plain paths, creating the directory', async () => {
    const nested = join(dir, 'a', 'b', 'store.db');
    const byUrl = await openStore(`sqlite:${nested}`);
    opened.push(byUrl);
    await byUrl.append('web', [rec(1)]);
    expect(existsSync(nested)).toBe(true);

    const byPath = await openStore(nested);
    opened.push(byPath);
    expect(await byPath.headSeq('web')).toBe(await byUrl.headSeq('web'));

    const byTripleSlash = await openStore(`sqlite://${join(dir, 'c', 'x.db')}`);
    opened.push(byTripleSlash);
    expect(existsSync(join(dir, 'c', 'x.db'))).toBe(true);

    const memory = await openStore(':memory:');
    opened.push(memory);
    expect(await memory.append('web', [rec(1)])).toEqual([1]);
  });

  it('refuses PostgreSQL for now, without echoing the URL', async () => {
    const error = await openStore('postgres://user:secret@db/cio').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/PostgreSQL backend not available yet/);
    expect((error as Error).message).not.toContain('secret');
    await expect(openStore('postgresql://db/cio')).rejects.toThrow(/PostgreSQL backend not available yet/);
    await expect(openStore('mysql://db/cio')).rejects.toThrow(/unsupported store URL scheme/);
  });
});
