import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openSqliteStore } from '../src/store/sqlite.ts';
import { freePort } from '../src/temporal/dev-server.ts';
import { startFakeCustomerIo, type FakeCustomerIo } from './fakes/customerio/index.ts';
import { CREDENTIALS, eventually } from './helpers/engine.ts';
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

/** `make start` with a config of one's own: its worker may use what that file names, and only that. */
describe('npm start with a config naming its own variables, hosts and cohort file', () => {
  let dir = '';
  let start: ChildHandle | undefined;
  let fake: FakeCustomerIo | undefined;
  afterAll(async () => {
    await start?.kill();
    await fake?.close();
    if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });

  it('allows them for the worker it starts, says so, and the cohort reaches Customer.io', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cio-start-own-'));
    fake = await startFakeCustomerIo(CREDENTIALS);
    for (const id of ['a', 'b']) fake.seedPerson({ id });
    const members = join(dir, 'members.csv');
    await writeFile(members, 'id\na\nb\n');
    const config = join(dir, 'own.yaml');
    await writeFile(
      config,
      `sources: [{ id: web, apiKey: "\${WEB_API_KEY}" }]
destinations:
  - id: local
    siteId: "\${LOCAL_SITE_ID}"
    trackApiKey: "\${LOCAL_TRACK_KEY}"
    trackUrl: ${fake.url}
    appUrl: ${fake.url}
syncs:
  - id: members
    type: cohort
    destination: local
    cohort: { from: file, path: ${members} }
    target: attribute
    attribute: member
    cadence: once
`,
    );
    const [temporalPort, uiPort, ingestPort] = [await freePort(), await freePort(), await freePort()];
    start = await spawnEntry(
      'src/start.ts',
      [],
      {
        CIO_SYNC_DATA: dir,
        CIO_SYNC_CONFIG: config,
        TEMPORAL_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        CIO_SYNC_INGEST_PORT: String(ingestPort),
        LOCAL_SITE_ID: CREDENTIALS.siteId,
        LOCAL_TRACK_KEY: CREDENTIALS.trackApiKey,
        // Nothing allowed by settings: what the worker may do comes from the file alone.
        CIO_SYNC_DESTINATION_VARIABLES: '',
        CIO_SYNC_OVERRIDE_HOSTS: '',
      },
      'Ctrl-C stops everything.',
      90_000,
    );
    const out = start.output();
    const host = new URL(fake.url).host;
    for (const allowed of [
      `${config}:4: the worker started here allows LOCAL_SITE_ID in CIO_SYNC_DESTINATION_VARIABLES`,
      `${config}:5: the worker started here allows LOCAL_TRACK_KEY in CIO_SYNC_DESTINATION_VARIABLES`,
      `${config}:6: the worker started here allows ${host} in CIO_SYNC_OVERRIDE_HOSTS`,
      `${config}:12: the worker started here allows ${members} in CIO_SYNC_COHORT_DIR`,
    ]) {
      expect(out).toContain(allowed);
    }
    await eventually(() => fake!.findPerson('id', 'b')?.attributes.member === true || undefined, 60_000);
    expect(fake.findPerson('id', 'a')?.attributes.member).toBe(true);
    // Ctrl-C, as a user stops it: the dev server, worker and ingest go with it, so nothing is left
    // writing into the data directory the test removes.
    start.child.kill('SIGINT');
    const [code] = await new Promise<[number | null]>((resolve) =>
      start!.child.once('exit', (c) => resolve([c])),
    );
    expect(code).toBe(0);
  });
});
