/**
 * What every part of the Store contract (the *.contract.ts files) runs on: a backend, a fresh store
 * location per test, and ways to open stores there, in this process and in a child process.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { afterEach, beforeEach } from 'vitest';

import type { CanonicalRecord } from '../../src/events/record.ts';
import type { Migration } from '../../src/store/migrations/migration.ts';
import type { Store } from '../../src/store/store.ts';

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
  /** Runs SQL on the store's database without the store (data an earlier schema had). */
  exec(location: string, sql: string): Promise<void>;
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

/** What a contract part gets: the backend, and this test's store location and openers. */
export interface StoreContract {
  backend: StoreBackend;
  /** The current test's store location (new for each test). */
  readonly location: string;
  /** Opens a store at `location`; it is closed after the test. */
  open(opts?: ContractOpenOptions): Promise<Store>;
  /** Runs a script in a separate Node process with `openStore` (the backend's opener) in scope. */
  inChildProcess<T>(body: string, ...args: string[]): Promise<T>;
}

/** Gives each test of the calling suite a fresh location, and closes and frees it afterwards. */
export function useStoreContract(backend: StoreBackend): StoreContract {
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

  return {
    backend,
    get location() {
      return location;
    },
    open,
    inChildProcess,
  };
}
