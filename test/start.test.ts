import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openSqliteStore } from '../src/store/sqlite.ts';
import { freePort } from '../src/temporal/dev-server.ts';
import { eventually } from './helpers/engine.ts';
import { spawnEntry, type ChildHandle } from './helpers/processes.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The README's start command: the whole stack on its embedded defaults, then Ctrl-C. */
describe('npm start (embedded defaults)', () => {
  let dir = '';
  let start: ChildHandle | undefined;
  afterAll(async () => {
    await start?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('brings up Temporal with its Web UI, the worker and ingest, runs the example in dry-run, and Ctrl-C stops it all', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cio-start-'));
    const [temporalPort, uiPort, ingestPort] = [await freePort(), await freePort(), await freePort()];
    start = await spawnEntry(
      'src/start.ts',
      [],
      {
        CIO_SYNC_DATA: dir,
        TEMPORAL_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        CIO_SYNC_INGEST_PORT: String(ingestPort),
        // No Customer.io credentials: the example destination records instead of sending.
        CIO_SITE_ID: '',
        CIO_TRACK_API_KEY: '',
        WEB_API_KEY: '',
      },
      'Ctrl-C stops everything.',
      90_000,
    );
    const out = start.output();
    expect(out).toContain('WEB_API_KEY is not set: ingest accepts the development key "dev-web-key"');
    expect(out).toContain(`ingest      http://127.0.0.1:${ingestPort}`);
    expect(out).toContain(`Web UI      http://127.0.0.1:${uiPort}/namespaces/default/workflows`);

    const health = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${ingestPort}/health`);
      return res.status === 200 ? res.json() : undefined;
    });
    expect(health).toEqual({ status: 'ok' });
    const ui = await fetch(`http://127.0.0.1:${uiPort}/namespaces/default/workflows`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('<html');

    const ingest = await fetch(`http://127.0.0.1:${ingestPort}/2/httpapi`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        api_key: 'dev-web-key',
        events: [{ user_id: 'user-123', event_type: 'Signed Up', time: 1_795_000_000_000 }],
      }),
    });
    expect(await ingest.json()).toMatchObject({ code: 200, events_ingested: 1 });
    const store = await openSqliteStore(join(dir, 'cio-sync.db'));
    try {
      const [captured] = await eventually(async () => {
        const list = await store.listCapturedRequests('web-to-cio');
        return list.length ? list : undefined;
      }, 30_000);
      expect(captured).toMatchObject({
        method: 'POST',
        url: 'https://track.customer.io/api/v2/batch',
        body: {
          batch: [
            {
              type: 'person',
              action: 'event',
              identifiers: { id: 'user-123' },
              name: 'Signed Up',
              timestamp: 1_795_000_000,
            },
          ],
        },
      });
    } finally {
      await store.close();
    }

    const pids = [...out.matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1]));
    start.child.kill('SIGINT');
    const [code] = await new Promise<[number | null]>((resolve) =>
      start!.child.once('exit', (c) => resolve([c])),
    );
    expect(code).toBe(0);
    for (const pid of pids) await eventually(() => !alive(pid), 10_000);
    await expect(fetch(`http://127.0.0.1:${ingestPort}/health`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${uiPort}/`)).rejects.toThrow();
  });
});
