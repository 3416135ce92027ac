import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';

import type { CanonicalRecord } from '../../src/events/record.ts';
import {
  buildIngestApp,
  createIngestCounters,
  type IngestAppOptions,
  type IngestCounters,
} from '../../src/ingest/app.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/store.ts';

export const WEB_KEY = 'web-key-0123456789';
export const MOBILE_KEY = 'mobile-key-0123456789';
export const SOURCES = [
  { id: 'web', apiKey: WEB_KEY },
  { id: 'mobile', apiKey: MOBILE_KEY },
];

export interface Harness {
  app: FastifyInstance;
  store: Store;
  counters: IngestCounters;
  /** `http://127.0.0.1:<port>` once listen() was called, else ''. */
  url: string;
  records(sourceId?: string): Promise<CanonicalRecord[]>;
  close(): Promise<void>;
}

/** An ingest app over a fresh SQLite store in a temp dir; `listen` binds 127.0.0.1 on a free port. */
export async function startHarness(
  options: { listen?: boolean; wrapStore?: (store: Store) => Store } & Partial<IngestAppOptions> = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'cio-sync-ingest-'));
  const real = await openSqliteStore(join(dir, 'store.db'));
  const store = options.wrapStore ? options.wrapStore(real) : real;
  const counters = createIngestCounters();
  const app = buildIngestApp({ sources: SOURCES, counters, ...options, store });
  let url = '';
  if (options.listen) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    url = `http://127.0.0.1:${address.port}`;
  }
  return {
    app,
    store,
    counters,
    url,
    async records(sourceId = 'web') {
      return (await real.readAfter(sourceId, 0, 10_000)).map((logged) => logged.record);
    },
    async close() {
      await app.close();
      await real.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A store whose writes (and, optionally, reads) fail, as a full disk or a lost database would. */
export function failingStore(store: Store, opts: { reads?: boolean } = {}): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'append' || property === 'appendNew' || (opts.reads && property === 'headSeq')) {
        return async () => {
          throw new Error('disk I/O error');
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
