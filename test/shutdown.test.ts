import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { createActivities } from '../src/activities/index.ts';
import { streamStatus } from '../src/control/syncs.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import {
  CREDENTIALS,
  eventually,
  startEngine,
  testConfig,
  uniqueId,
  WORKER_ENV,
  type TestEngine,
} from './helpers/engine.ts';
import { spawnEntry, spawnWorker, type ChildHandle } from './helpers/processes.ts';

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);
/** The activity type of a stream sync's lane delivery (a rename fails type checking here). */
const LANE_ACTIVITY: keyof ReturnType<typeof createActivities> = 'deliverLane';

function track(userId: string, event: string): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'segment',
    event_type: event,
    user_id: userId,
    insert_id: `${userId}/${event}`,
    time: T0,
    event_properties: {},
    user_properties: {},
    context: {},
  };
}

/** Every non-empty output line, parsed: each must be one JSON object. */
function jsonLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
}

async function exitOf(handle: ChildHandle): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await handle.stop();
  return { code, ms: Date.now() - started };
}

describe('ingest on SIGTERM', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cio-sync-ingest-shutdown-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stops accepting, answers the request in flight, commits it, and exits 0', async () => {
    const configPath = join(dir, 'cio-sync.yaml');
    await writeFile(configPath, 'sources:\n  - id: web\n    apiKey: ${SHUTDOWN_WEB_KEY}\n');
    const storePath = join(dir, 'store.db');
    const ingest = await spawnEntry(
      'src/ingest/server.ts',
      ['--config', configPath],
      {
        SHUTDOWN_WEB_KEY: 'shutdown-web-key',
        CIO_SYNC_STORE: `sqlite:${storePath}`,
        CIO_SYNC_INGEST_PORT: '0',
      },
      'ingest listening at',
    );
    try {
      const url = /ingest listening at (http:\/\/[^"\s]+)/.exec(ingest.output())?.[1] as string;
      const events = Array.from({ length: 200 }, (_, i) => ({
        user_id: 'user-slow',
        event_type: `Step ${i}`,
        insert_id: `slow-${i}`,
      }));
      const body = Buffer.from(JSON.stringify({ api_key: 'shutdown-web-key', events }));
      // A slow upload: half the body now, the rest after the signal.
      const req = request(`${url}/2/httpapi`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      });
      const answered = once(req, 'response');
      req.write(body.subarray(0, body.length / 2));
      await new Promise((r) => setTimeout(r, 300));
      const exited = exitOf(ingest);
      await eventually(() => ingest.output().includes('ingest shutting down'));
      // Stopped accepting: a new connection is refused while the upload is still open.
      await eventually(() =>
        fetch(`${url}/health`).then(
          () => false,
          () => true,
        ),
      );
      req.end(body.subarray(body.length / 2));
      const [response] = (await answered) as [IncomingMessage];
      let text = '';
      for await (const chunk of response) text += String(chunk);
      expect(response.statusCode, text).toBe(200);
      expect(JSON.parse(text)).toMatchObject({ code: 200, events_ingested: 200 });
      expect(response.headers.connection).toBe('close');
      const { code, ms } = await exited;
      expect(code).toBe(0);
      // Nothing held it: not the answered connection, not the store.
      expect(ms).toBeLessThan(3000);
      expect(jsonLines(ingest.output()).map((l) => l.msg)).toEqual(
        expect.arrayContaining(['ingest shutting down', 'ingest stopped']),
      );
    } finally {
      await ingest.kill();
    }
    const store = await openSqliteStore(storePath);
    try {
      expect(await store.headSeq('web')).toBe(200);
    } finally {
      await store.close();
    }
  });
});

describe('worker on SIGTERM', () => {
  let engine: TestEngine;
  let env: NodeJS.ProcessEnv & { CIO_SYNC_STORE: string; CIO_SYNC_TASK_QUEUE: string };
  beforeAll(async () => {
    engine = await startEngine();
    await engine.worker.shutdown(); // only the worker processes below serve this queue
    env = {
      ...WORKER_ENV,
      CIO_SYNC_STORE: `sqlite:${engine.storePath}`,
      CIO_SYNC_TASK_QUEUE: engine.taskQueue,
    };
  });
  afterAll(async () => {
    await engine?.close();
  });

  async function oneSync(waitFor: string) {
    const source = uniqueId('src');
    const syncId = uniqueId('sync');
    await engine.apply(
      testConfig(
        engine.fake,
        `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    delivery: { waitFor: ${waitFor}, lanes: 1 }`,
        { sources: [source] },
      ),
    );
    return { source, syncId };
  }

  const batchesWith = (users: string[]) =>
    engine.fake.requests.filter(
      (r) => r.path === '/api/v2/batch' && users.some((u) => r.bodyText.includes(u)),
    );
  const eventsOf = (users: string[]) =>
    engine.fake.events.filter((e) => users.includes(e.identifier?.value ?? ''));

  it('lets a delivery on the wire finish, exits 0, and the restarted worker sends nothing twice', async () => {
    let worker = await spawnWorker(env);
    const { source, syncId } = await oneSync('1s');
    const users = [uniqueId('u'), uniqueId('u'), uniqueId('u')];
    // Under the destination's 2 s timeout: Customer.io answers, late.
    engine.fake.script.delayNext(1, 1500, { path: '/api/v2/batch' });
    await engine.store.append(
      source,
      users.map((u) => track(u, 'Before')),
    );
    // The request is at Customer.io, unanswered, when the signal arrives.
    await eventually(() => batchesWith(users).some((r) => r.status === undefined));
    const { code } = await exitOf(worker);
    expect(code, worker.output()).toBe(0);
    expect(
      batchesWith(users).map((r) => r.status),
      worker.output(),
    ).toEqual([200]);
    const msgs = jsonLines(worker.output()).map((l) => l.msg);
    expect(msgs).toEqual(expect.arrayContaining(['worker shutting down', 'worker stopped']));

    const after = await engine.store.append(
      source,
      users.map((u) => track(u, 'After')),
    );
    worker = await spawnWorker(env);
    try {
      await eventually(
        async () => (await streamStatus(engine.client, syncId)).cursor === after.at(-1),
        30_000,
      );
    } finally {
      await worker.stop();
    }
    const events = eventsOf(users);
    expect(events.map((e) => e.name).sort()).toEqual([
      ...users.map(() => 'After'),
      ...users.map(() => 'Before'),
    ]);
    // The batch in flight at the signal was answered and counted: the restart did not send it again.
    expect(batchesWith(users)).toHaveLength(2);
    expect(engine.fake.duplicateEvents.filter((e) => users.includes(e.identifier?.value ?? ''))).toEqual([]);
  });

  it('hands back a delivery still waiting for records at once, and the next worker delivers them once', async () => {
    let worker = await spawnWorker(env);
    // A long wait: without the hand-back, shutdown would sit out the 20 s grace time.
    const { source, syncId } = await oneSync('60s');
    const handle = engine.client.workflow.getHandle(`stream-sync/${syncId}`);
    // Not just any started activity: a fresh sync's first one is its spec check (checkSyncSpec).
    // Stopped then, the worker finishes the check and leaves the workflow task after it to the next
    // worker: no delivery is even scheduled, so nothing pending carries the hand-back. Wait for the
    // lane's delivery itself, running in the worker (it has heartbeated); the log is empty, so it
    // waits for records.
    await eventually(async () => {
      const { raw } = await handle.describe();
      return raw.pendingActivities?.some(
        (a) =>
          a.activityType?.name === LANE_ACTIVITY &&
          (String(a.state) === '2' || String(a.state) === 'PENDING_ACTIVITY_STATE_STARTED') &&
          Boolean(a.lastHeartbeatTime),
      );
    });
    const { code, ms } = await exitOf(worker);
    expect(code, worker.output()).toBe(0);
    expect(ms).toBeLessThan(10_000);
    const [pending] = (await handle.describe()).raw.pendingActivities ?? [];
    expect(pending?.activityType?.name).toBe(LANE_ACTIVITY);
    expect(pending?.lastFailure?.applicationFailureInfo?.type).toBe('WorkerShuttingDown');

    const users = [uniqueId('u'), uniqueId('u')];
    const seqs = await engine.store.append(
      source,
      users.map((u) => track(u, 'Waited')),
    );
    worker = await spawnWorker(env);
    try {
      await eventually(
        async () => (await streamStatus(engine.client, syncId)).cursor === seqs.at(-1),
        30_000,
      );
    } finally {
      await worker.stop();
    }
    expect(eventsOf(users)).toHaveLength(2);
    expect(batchesWith(users)).toHaveLength(1);
  });

  it('logs one JSON object per line and never a secret', async () => {
    const worker = await spawnWorker({ ...env, LOG_LEVEL: 'debug' });
    try {
      const { source, syncId } = await oneSync('1s');
      // A failed attempt logs its error; a delivered one its request's life.
      engine.fake.script.failNext(1, { path: '/api/v2/batch', status: 503 });
      const [seq] = await engine.store.append(source, [track(uniqueId('u'), 'Logged')]);
      await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seq, 30_000);
    } finally {
      expect(await worker.stop()).toBe(0);
    }
    const output = worker.output();
    const lines = jsonLines(output);
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines)
      expect(typeof line.level === 'number' && typeof line.msg === 'string').toBe(true);
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['worker started', 'Activity failed', 'worker stopped']),
    );
    const basic = Buffer.from(`${CREDENTIALS.siteId}:${CREDENTIALS.trackApiKey}`).toString('base64');
    for (const secret of [CREDENTIALS.trackApiKey, CREDENTIALS.appApiKey, basic]) {
      expect(output).not.toContain(secret);
    }
  });
});
