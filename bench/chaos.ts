/**
 * Chaos run: a steady Amplitude load through the real processes (Temporal dev server with its state
 * in a file, a worker and an ingest server, each its own process) while each of them is SIGKILLed
 * and restarted several times, against a fake Customer.io. Counts what was acknowledged, what
 * reached Customer.io, what was lost and whether any event reached it under two ids.
 *
 *   node bench/chaos.ts [--events 100000] [--kills 3] [--rate 1500]
 *
 * Prints the figures, writes bench/reports/chaos.json, and exits 1 on any loss or split id.
 * Everything runs on loopback and stops by itself (a hard deadline of 15 minutes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Client, Connection } from '@temporalio/client';

import { loadConfig } from '../src/config/load.ts';
import { applyConfig } from '../src/control/syncs.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { bundleWorkflows } from '../src/temporal/bundle.ts';
import { freePort, startDevServer, type DevServer } from '../src/temporal/dev-server.ts';
import { startFakeCustomerIo } from '../test/fakes/customerio/index.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    kills: { type: 'string', default: '3' },
    rate: { type: 'string', default: '1500' },
  },
});
const TOTAL = Number(values.events);
const KILLS = Number(values.kills);
const RATE = Number(values.rate);
const BATCH = 100;
const USERS = 200;
const SENDERS = 4;
const DEADLINE = Date.now() + 15 * 60_000;
const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

const dir = await mkdtemp(join(tmpdir(), 'cio-chaos-'));
const log = (line: string) =>
  process.stdout.write(`[chaos ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
const started = Date.now();

// --- the parts -----------------------------------------------------------------------------------
const fake = await startFakeCustomerIo({ siteId: 'chaos-site', trackApiKey: 'chaos-key' });
const temporalPort = await freePort();
const ingestPort = await freePort();
const temporalDb = join(dir, 'temporal.db');
const storeUrl = `sqlite:${join(dir, 'store.db')}`;
const bundlePath = join(dir, 'workflow-bundle.js');
await writeFile(bundlePath, await bundleWorkflows());
const configPath = join(dir, 'cio-sync.yaml');
await writeFile(
  configPath,
  `
sources:
  - id: chaos
    apiKey: \${CHAOS_SOURCE_KEY}
destinations:
  - id: cio
    siteId: \${CIO_SITE_ID}
    trackApiKey: \${CIO_TRACK_API_KEY}
    trackUrl: ${fake.url}
    appUrl: ${fake.url}
    requestsPerSecond: 1000
    timeout: 5s
syncs:
  - id: chaos-sync
    type: stream
    source: chaos
    destination: cio
    events: { properties: { event: '*' } }
    delivery: { waitFor: 1s, maxRecords: 500, credentialsRetry: 1s }
`,
);

let temporal: DevServer = await startTemporal();
async function startTemporal(): Promise<DevServer> {
  return startDevServer({ port: temporalPort, uiPort: false, dbFile: temporalDb, startTimeoutMs: 60_000 });
}

interface Child {
  process: ChildProcess;
  exited: Promise<unknown>;
}
async function spawnEntry(script: string, env: NodeJS.ProcessEnv, readyText: string): Promise<Child> {
  const child = spawn(process.execPath, [resolve(ROOT, script)], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = once(child, 'exit');
  process.once('exit', () => child.kill('SIGKILL'));
  const deadline = Date.now() + 60_000;
  while (!out.includes(readyText)) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`${script} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { process: child, exited };
}
const startIngest = () =>
  spawnEntry(
    'src/ingest/server.ts',
    {
      CIO_SYNC_CONFIG: configPath,
      CIO_SYNC_STORE: storeUrl,
      CIO_SYNC_INGEST_PORT: String(ingestPort),
      CHAOS_SOURCE_KEY: 'chaos-key',
      LOG_LEVEL: 'info',
    },
    'ingest listening at',
  );
const startWorker = () =>
  spawnEntry(
    'src/worker.ts',
    {
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      CIO_SYNC_STORE: storeUrl,
      CIO_SYNC_WORKFLOW_BUNDLE: bundlePath,
      CIO_SYNC_METRICS_PORT: '0',
      CIO_SITE_ID: 'chaos-site',
      CIO_TRACK_API_KEY: 'chaos-key',
      // The fake Customer.io is on loopback: the worker must allow it as an override host.
      CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1',
      LOG_LEVEL: 'info',
    },
    'worker started',
  );
async function kill(child: Child): Promise<void> {
  child.process.kill('SIGKILL');
  await child.exited;
}

let ingest = await startIngest();
let worker = await startWorker();
{
  const connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
  await applyConfig(new Client({ connection }), await loadConfig(configPath), {
    taskQueue: 'cio-sync',
    env: { CIO_SITE_ID: 'chaos-site', CIO_TRACK_API_KEY: 'chaos-key' },
  });
  await connection.close();
}
log(`started: temporal :${temporalPort}, ingest :${ingestPort}, ${TOTAL} events at ~${RATE}/s`);

// --- the load ------------------------------------------------------------------------------------
/** insert_ids whose request was answered 200. */
const acknowledged = new Set<string>();
let requestsFailed = 0;
const url = `http://127.0.0.1:${ingestPort}/2/httpapi`;
async function sender(index: number): Promise<void> {
  const perSender = Math.ceil(TOTAL / SENDERS);
  const pause = (1000 * BATCH * SENDERS) / RATE;
  for (let i = 0; i < perSender && Date.now() < DEADLINE; i += BATCH) {
    const events = [];
    for (let j = i; j < Math.min(i + BATCH, perSender); j++) {
      const n = index * perSender + j;
      if (n >= TOTAL) break;
      const insertId = `ev-${n}`;
      events.push({
        user_id: `user-${n % USERS}`,
        event_type: 'Chaos',
        insert_id: insertId,
        time: T0 + n,
        event_properties: { insert_id: insertId },
      });
    }
    if (events.length === 0) break;
    const body = JSON.stringify({ api_key: 'chaos-key', events });
    // A client retries the same batch (same insert_ids) until it is acknowledged, as the SDKs do.
    for (;;) {
      const began = Date.now();
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        await response.text();
        if (response.status === 200) {
          for (const e of events) acknowledged.add(e.insert_id);
          await new Promise((r) => setTimeout(r, Math.max(0, pause - (Date.now() - began))));
          break;
        }
      } catch {
        // ingest is down: retry below
      }
      requestsFailed++;
      if (Date.now() > DEADLINE) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
const load = Promise.all(Array.from({ length: SENDERS }, (_, i) => sender(i)));
let loadDone = false;
void load.then(() => (loadDone = true));

// --- the chaos -----------------------------------------------------------------------------------
const kills = { worker: 0, ingest: 0, temporal: 0 };
const victims = ['worker', 'ingest', 'temporal'] as const;
for (let round = 0; round < KILLS * victims.length && !loadDone; round++) {
  await new Promise((r) => setTimeout(r, 2_500 + Math.random() * 2_500));
  const victim = victims[round % victims.length]!;
  log(`SIGKILL ${victim} (acknowledged ${acknowledged.size}, at Customer.io ${fake.events.length})`);
  if (victim === 'worker') {
    await kill(worker);
    await new Promise((r) => setTimeout(r, 1_000));
    worker = await startWorker();
  } else if (victim === 'ingest') {
    await kill(ingest);
    await new Promise((r) => setTimeout(r, 1_000));
    ingest = await startIngest();
  } else {
    temporal.process.kill('SIGKILL');
    await once(temporal.process, 'exit').catch(() => {});
    await new Promise((r) => setTimeout(r, 1_000));
    temporal = await startTemporal();
  }
  kills[victim]++;
}
await load;
log(`load done: ${acknowledged.size} acknowledged, ${requestsFailed} requests failed and were retried`);

// --- the count -----------------------------------------------------------------------------------
const store = await openSqliteStore(join(dir, 'store.db'));
const idsOf = () => {
  const ids = new Map<string, Set<string>>();
  for (const event of [...fake.events, ...fake.duplicateEvents]) {
    const key = String((event.data as { insert_id?: unknown }).insert_id);
    const set = ids.get(key) ?? new Set<string>();
    set.add(event.id ?? '');
    ids.set(key, set);
  }
  return ids;
};
for (;;) {
  const delivered = new Set(fake.events.map((e) => String((e.data as { insert_id?: unknown }).insert_id)));
  const missing = [...acknowledged].filter((id) => !delivered.has(id)).length;
  if (missing === 0 || Date.now() > DEADLINE) break;
  await new Promise((r) => setTimeout(r, 1_000));
}
const ids = idsOf();
const deliveredKeys = new Set(fake.events.map((e) => String((e.data as { insert_id?: unknown }).insert_id)));
const lost = [...acknowledged].filter((id) => !deliveredKeys.has(id));
const split = [...ids].filter(([, set]) => set.size > 1).map(([key]) => key);
const report = {
  events: TOTAL,
  acknowledged: acknowledged.size,
  delivered: [...acknowledged].filter((id) => deliveredKeys.has(id)).length,
  lost: lost.length,
  splitIds: split.length,
  duplicatesDeduplicated: fake.duplicateEvents.length,
  logRecords: await store.countAfter('chaos', 0),
  storedCursor: await store.getStreamCursor('chaos-sync'),
  kills,
  requestsRetriedByClients: requestsFailed,
  seconds: Math.round((Date.now() - started) / 1000),
  at: new Date().toISOString(),
};
await store.close();
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
await mkdir(join(ROOT, 'bench/reports'), { recursive: true });
await writeFile(join(ROOT, 'bench/reports/chaos.json'), `${JSON.stringify(report, null, 2)}\n`);

await kill(worker);
await kill(ingest);
await temporal.stop();
await fake.close();
await rm(dir, { recursive: true, force: true });
const ok = report.lost === 0 && report.splitIds === 0 && report.acknowledged === TOTAL;
log(ok ? 'PASS: 0 lost, 0 split ids' : `FAIL: ${report.lost} lost, ${report.splitIds} split ids`);
process.exit(ok ? 0 : 1);
