import { Client, Connection } from '@temporalio/client';

import { SyncControlError } from '../control/syncs.ts';
import { loadSettings, type Settings } from '../settings.ts';
import { openStore } from '../store/index.ts';
import type { Store } from '../store/store.ts';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3 } as const;

/** The options given before the command: `cio-sync --json --address … <command>`. */
export interface GlobalOptions {
  json?: boolean;
  address?: string;
  namespace?: string;
  store?: string;
}

/**
 * What a command borrows from the CLI around it: each command registers itself with
 * `register…Command(program, ctx)` and reaches Temporal, the store, the settings and the output
 * only through this.
 */
export interface CliContext {
  /** `--json` was given: print machine-readable output, and no progress bars. */
  json(): boolean;
  /** The settings, read once, when a command first needs them (`validate` and `preview` do not). */
  settings(): Settings;
  taskQueue(): string;
  /** Runs `fn` with a client of the Temporal frontend (--address, --namespace), closed after. */
  withClient<T>(fn: (client: Client) => Promise<T>): Promise<T>;
  /** Runs `fn` with the store (--store), closed after. */
  withStore<T>(fn: (store: Store) => Promise<T>): Promise<T>;
  /** Prints `value` as JSON with --json, else the text `human` builds. */
  print(value: unknown, human: () => string): void;
}

/** A context over the program's global options, read when a command runs (commander parses them first). */
export function createContext(globals: () => GlobalOptions): CliContext {
  let cachedSettings: Settings | undefined;
  const settings = () => (cachedSettings ??= loadSettings());

  return {
    json: () => Boolean(globals().json),
    settings,
    taskQueue: () => settings().taskQueue,
    async withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
      const { temporalAddress, namespace } = settings();
      const address = globals().address ?? temporalAddress;
      let connection: Connection;
      try {
        connection = await Connection.connect({ address, connectTimeout: 5000 });
      } catch (err) {
        throw new SyncControlError(`cannot reach Temporal at ${address}: ${(err as Error).message}`);
      }
      try {
        return await fn(new Client({ connection, namespace: globals().namespace ?? namespace }));
      } finally {
        await connection.close();
      }
    },
    async withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
      const store = await openStore(globals().store ?? settings().storeUrl);
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    },
    print(value: unknown, human: () => string): void {
      process.stdout.write(globals().json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
    },
  };
}
