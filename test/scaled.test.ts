/**
 * The scaled shape, as processes on loopback: one PostgreSQL store shared by two ingest servers and
 * two workers on the run's Temporal dev server. Events stream in through both ingests at once (their
 * appends to the one source race each other), a worker is SIGKILLed while its delivery is on the
 * wire, and Customer.io must still get every event exactly once by id, in per-user order.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { loadConfig } from '../src/config/load.ts';
import { applyConfig, streamStatus } from '../src/control/syncs.ts';
import { openPostgresStore } from '../src/store/postgres.ts';
import type { Store } from '../src/store/store.ts';
import { startFakeCustomerIo, type FakeCustomerIo } from './fakes/customerio/index.ts';
import { CREDENTIALS, eventually, uniqueId, WORKER_ENV } from './helpers/engine.ts';
import { startTestPostgres, type TestPostgres } from './helpers/postgres.ts';
import { spawnEntry, spawnWorker, type ChildHandle } from './helpers/processes.ts';

const USERS = 20;
const EVENTS_PER_USER = 150;
const TOTAL = USERS * EVENTS_PER_USER;
/** Concurrent senders, each with its own users, each alternating between the two ingests. */
const SENDERS = 4;
const EVENTS_PER_REQUEST = 10;
/** Pause between one sender's requests, so ingest is still going on when the worker dies. */
const SEND_PAUSE_MS = 40;
const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

describe('scaled: two ingests and two workers on one PostgreSQL store', () => {
  let postgres: TestPostgres;
  let fake: FakeCustomerIo;
  let client: Client;
  let dir: string;
  let store: Store | undefined;
  const taskQueue = uniqueId('scaled-queue');
  const children: ChildHandle[] = [];

  beforeAll(async () => {
    const address = inject('temporalAddress');
    if (!address) throw new Error('this test needs the Temporal dev server (unset CIO_SYNC_NO_TEMPORAL)');
    [postgres, fake, dir] = await Promise.all([
      startTestPostgres({ migrated: true }),
      startFakeCustomerIo(CREDENTIALS),
      mkdtemp(join(tmpdir(), 'cio-sync-scaled-')),
    ]);
    client = new Client({ connection: await Connection.connect({ address }) });
  });

  afterAll(async () => {
    // Leave the shared dev server clean: no sync of this test outlives its workers.
    if (client) {
      const query = `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"`;
      for await (const wf of client.workflow.list({ query })) {
        await client.workflow
          .getHandle(wf.workflowId)
          .terminate('test finished')
          .catch(() => {});
      }
      await client.connection.close();
    }
    await Promise.all(children.map((child) => child.kill()));
    await store?.close();
    await fake?.close();
    await postgres?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('delivers every event exactly once and in per-user order through a worker crash', async () => {
    const started = performance.now();
    const source = uniqueId('scaled');
    const syncId = uniqueId('scaled-sync');
    const storeUrl = postgres.connectionString;
    const configPath = join(dir, 'cio-sync.yaml');
    await writeFile(
      configPath,
      `
sources:
  - id: ${source}
    apiKey: \${SCALED_SOURCE_KEY}
destinations:
  - id: cio
    siteId: \${CIO_SITE_ID}
    trackApiKey: \${CIO_TRACK_API_KEY}
    trackUrl: ${fake.url}
    appUrl: ${fake.url}
    timeout: 5s
syncs:
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    events: { properties: { event: '*' } }
    delivery: { waitFor: 1s, maxRecords: 100 }
`,
    );

    // The first process to open the store migrates it; the others wait on the advisory lock.
    const ingestEnv = {
      CIO_SYNC_CONFIG: configPath,
      CIO_SYNC_STORE: storeUrl,
      CIO_SYNC_INGEST_PORT: '0',
      SCALED_SOURCE_KEY: 'scaled-key',
    };
    const workerEnv = { ...WORKER_ENV, CIO_SYNC_STORE: storeUrl, CIO_SYNC_TASK_QUEUE: taskQueue };
    const [ingestA, ingestB, workerA, workerB] = await Promise.all([
      spawnEntry('src/ingest/server.ts', [], ingestEnv, 'ingest listening at'),
      spawnEntry('src/ingest/server.ts', [], ingestEnv, 'ingest listening at'),
      spawnWorker(workerEnv),
      spawnWorker(workerEnv),
    ]);
    children.push(ingestA, ingestB, workerA, workerB);
    const ingestUrls = [ingestA, ingestB].map(
      (ingest) => /ingest listening at (http:\/\/[^\s"]+)/.exec(ingest.output())![1]!,
    );
    const workers = [workerA, workerB];
    store = await openPostgresStore(storeUrl);

    await applyConfig(client, await loadConfig(configPath), { taskQueue });

    // Each sender owns USERS / SENDERS users and sends their events in order, one request at a time,
    // alternating ingests: a user's order is the order of the requests, both ingests append at once.
    const users = Array.from({ length: USERS }, () => uniqueId('user'));
    const requestsBy = new Map<string, number>();
    let acknowledged = 0;
    const send = async (sender: number): Promise<void> => {
      const mine = users.filter((_, i) => i % SENDERS === sender);
      const events = [];
      for (let step = 0; step < EVENTS_PER_USER; step++) {
        for (const user of mine) {
          events.push({
            user_id: user,
            event_type: `Step ${step}`,
            insert_id: `${user}/${step}`,
            time: T0 + step,
            event_properties: { step },
          });
        }
      }
      for (let i = 0, n = 0; i < events.length; i += EVENTS_PER_REQUEST, n++) {
        const url = ingestUrls[(sender + n) % 2]!;
        const response = await fetch(`${url}/2/httpapi`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ api_key: 'scaled-key', events: events.slice(i, i + EVENTS_PER_REQUEST) }),
        });
        expect(response.status, await response.text()).toBe(200);
        requestsBy.set(url, (requestsBy.get(url) ?? 0) + 1);
        acknowledged += events.slice(i, i + EVENTS_PER_REQUEST).length;
        await new Promise((r) => setTimeout(r, SEND_PAUSE_MS));
      }
    };
    const sending = Promise.all(Array.from({ length: SENDERS }, (_, s) => send(s)));

    const ours = () => fake.events.filter((e) => users.includes(e.identifier?.value ?? ''));
    await eventually(() => ours().length >= TOTAL / 5, 60_000);

    // Hold the next batch's answer (the fake applies it at once) and kill the worker that sent it:
    // its delivery never learns it succeeded, so the other worker sends that batch again.
    fake.script.delayNext(1, 5_000, { path: '/api/v2/batch' });
    await eventually(() => fake.requests.some((r) => r.fault === 'delay' && r.status === undefined), 30_000);
    const handle = client.workflow.getHandle(`stream-sync/${syncId}`);
    const victim = await eventually(async () => {
      const identity = (await handle.describe()).raw.pendingActivities?.[0]?.lastWorkerIdentity ?? '';
      return workers.find((w) => identity.startsWith(`${w.child.pid}@`));
    }, 10_000);
    await victim.kill();
    const deliveredAtKill = ours().length;
    const acknowledgedAtKill = acknowledged;
    const survivor = workers.find((w) => w !== victim)!;

    await sending;
    // Every acknowledged event is in the log once; the sync's cursor reaches the log's head.
    expect(await store.countAfter(source, 0)).toBe(TOTAL);
    const head = await store.headSeq(source);
    await eventually(async () => (await streamStatus(client, syncId)).cursor === head, 90_000, 200);
    fake.script.clear();

    const delivered = ours();
    const duplicates = fake.duplicateEvents.filter((e) => users.includes(e.identifier?.value ?? ''));
    expect(delivered).toHaveLength(TOTAL);
    expect(new Set(delivered.map((e) => e.id)).size).toBe(TOTAL);
    for (const user of users) {
      const steps = delivered.filter((e) => e.identifier?.value === user).map((e) => Number(e.data.step));
      expect(steps).toEqual(Array.from({ length: EVENTS_PER_USER }, (_, i) => i));
    }
    // The crash did cost a redelivery, and Customer.io's dedup by id absorbed it.
    expect(duplicates.length).toBeGreaterThan(0);
    // Ingest went on while the worker was down.
    expect(acknowledgedAtKill).toBeLessThan(TOTAL);
    expect([...requestsBy.values()].every((n) => n > 0)).toBe(true);
    expect(survivor.child.exitCode).toBeNull();

    console.log(
      `scaled: ${TOTAL} events, ${USERS} users, ${requestsBy.size} ingests ` +
        `(${[...requestsBy.values()].join('/')} requests), worker killed at ${deliveredAtKill} delivered ` +
        `and ${acknowledgedAtKill} acknowledged, ` +
        `${duplicates.length} duplicates deduplicated by the fake, ` +
        `${Math.round(performance.now() - started)} ms`,
    );
  }, 180_000);
});
