import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openStore } from '../../src/store/index.ts';
import { sqliteMigrations as migrations } from '../../src/store/migrations/sqlite.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/store.ts';
import { describeStoreContract, rec } from './contract.ts';

/** Each test's store is a file in a directory of its own. */
const dirs = new Map<string, string>();

function inspect(path: string): { versions: number[]; tables: string[]; journalMode: unknown } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return {
      versions: db
        .prepare('SELECT version FROM schema_migrations ORDER BY version')
        .all()
        .map((r) => Number(r.version)),
      tables: db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .all()
        .map((r) => String(r.name)),
      journalMode: db.prepare('PRAGMA journal_mode').get()?.journal_mode,
    };
  } finally {
    db.close();
  }
}

describeStoreContract({
  migrations,
  async fresh() {
    const dir = await mkdtemp(join(tmpdir(), 'cio-sync-store-'));
    const file = join(dir, 'store.db');
    dirs.set(file, dir);
    return file;
  },
  async dispose(file) {
    await rm(dirs.get(file)!, { recursive: true, force: true });
    dirs.delete(file);
  },
  open: (file, opts) => openSqliteStore(file, opts),
  childOpener: {
    moduleUrl: pathToFileURL(join(import.meta.dirname, '../../src/store/sqlite.ts')).href,
    exportName: 'openSqliteStore',
  },
  inspect: async (file) => inspect(file),
  async exec(file, sql) {
    const db = new DatabaseSync(file);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  },
});

describe('SQLite only', () => {
  let dir: string;
  let opened: Store[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cio-sync-store-'));
    opened = [];
  });

  afterEach(async () => {
    for (const store of opened) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs in WAL mode', async () => {
    const file = join(dir, 'store.db');
    await (await openSqliteStore(file)).close();
    expect(inspect(file).journalMode).toBe('wal');
  });

  it('openStore opens sqlite: URLs and plain paths, creating the directory', async () => {
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

  it('openStore refuses other URL schemes', async () => {
    await expect(openStore('mysql://db/cio')).rejects.toThrow(/unsupported store URL scheme/);
    await expect(openStore('sqlite:')).rejects.toThrow(/has no file path/);
  });
});
