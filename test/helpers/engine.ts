import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { inject } from 'vitest';

import { parseConfig } from '../../src/config/load.ts';
import type { Config, StreamSyncSpec } from '../../src/config/schema.ts';
import { applyConfig, workflowIdFor, type SyncSpec } from '../../src/control/syncs.ts';
import { startIngest, type RunningIngest } from '../../src/ingest/server.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/store.ts';
import { startWorker, type RunningWorker } from '../../src/worker.ts';
import { updateConfigUpdate } from '../../src/workflows/sync-api.ts';
import { startFakeCustomerIo, type FakeCustomerIo } from '../fakes/customerio/index.ts';

// Keep worker lifecycle INFO lines out of the test output; warnings (failed attempts) stay.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Already installed in this test process.
}

export const CREDENTIALS = { siteId: 'site-1', trackApiKey: 'track-key-1', appApiKey: 'app-key-1' };

/** Worker environment: where the worker, and only the worker, finds the Customer.io secrets. */
export const WORKER_ENV = {
  CIO_SITE_ID: CREDENTIALS.siteId,
  CIO_TRACK_API_KEY: CREDENTIALS.trackApiKey,
  CIO_APP_API_KEY: CREDENTIALS.appApiKey,
  // The fake Customer.io listens on 127.0.0.1: the worker must allow it as an override host.
  CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1',
  // Cohort files live in the tests' temp directories.
  CIO_SYNC_COHORT_DIR: tmpdir(),
  // The fake Amplitude's credentials, for cohort sources.
  AMP_KEY: 'amp-key',
  AMP_SECRET: 'amp-secret',
  AMP_WRONG_SECRET: 'wrong-secret',
  CIO_SYNC_COHORT_VARIABLES: 'AMP_*',
};

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface TestEngine {
  dir: string;
  storePath: string;
  store: Store;
  fake: FakeCustomerIo;
  client: Client;
  taskQueue: string;
  worker: RunningWorker;
  env: NodeJS.ProcessEnv;
  /** Applies a config as the CLI would, in `env` (default: the worker's environment). */
  apply(config: Config, env?: NodeJS.ProcessEnv): ReturnType<typeof applyConfig>;
  /** Starts a worker again (after `worker.shutdown()`), on the same store and task queue. */
  restartWorker(env?: NodeJS.ProcessEnv): Promise<RunningWorker>;
  close(): Promise<void>;
}

/**
 * A worker on the run's shared Temporal dev server with its own task queue, a real SQLite store
 * in a temp dir and a fake Customer.io. Sync ids must be unique per test (uniqueId): workflow ids
 * are global on the shared server.
 */
export async function startEngine(opts: { env?: NodeJS.ProcessEnv } = {}): Promise<TestEngine> {
  const address = inject('temporalAddress');
  if (!address) throw new Error('this test needs the Temporal dev server (unset CIO_SYNC_NO_TEMPORAL)');
  const dir = await mkdtemp(join(tmpdir(), 'cio-sync-engine-'));
  const storePath = join(dir, 'store.db');
  const store = await openSqliteStore(storePath);
  const fake = await startFakeCustomerIo(CREDENTIALS);
  const taskQueue = uniqueId('test-queue');
  const env = { ...WORKER_ENV, ...opts.env };
  const launch = (workerEnv: NodeJS.ProcessEnv) =>
    startWorker({
      temporalAddress: address,
      taskQueue,
      store,
      workflowBundlePath: inject('workflowBundlePath'),
      env: workerEnv,
    });
  const engine: TestEngine = {
    dir,
    storePath,
    store,
    fake,
    taskQueue,
    env,
    worker: await launch(env),
    client: new Client({ connection: await Connection.connect({ address }) }),
    apply: (config, applyEnv = env) => applyConfig(engine.client, config, { taskQueue, env: applyEnv }),
    async restartWorker(workerEnv = env) {
      engine.worker = await launch(workerEnv);
      return engine.worker;
    },
    async close() {
      // Leave the shared dev server clean: no running sync of this engine outlives its worker.
      const query = `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"`;
      for await (const wf of engine.client.workflow.list({ query })) {
        await engine.client.workflow
          .getHandle(wf.workflowId)
          .terminate('test finished')
          .catch(() => {});
      }
      await engine.worker.shutdown().catch(() => {});
      await engine.client.connection.close();
      await fake.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return engine;
}

function keyVariable(sourceId: string): string {
  return `KEY_${sourceId.replace(/-/g, '_')}`;
}

/** The environment ingest resolves testConfig's source keys from: source `web` has key `web-key`. */
export function sourceKeyEnv(sources: readonly string[]): Record<string, string> {
  return Object.fromEntries(sources.map((id) => [keyVariable(id), `${id}-key`]));
}

/**
 * A config with the given sources (key `<id>-key`, see sourceKeyEnv), the fake as destination `cio` and the given
 * syncs (YAML fragments). Tests share one dev server, so a test should use a source of its own:
 * other tests' syncs would otherwise deliver its records too.
 */
export function testConfig(
  fake: FakeCustomerIo,
  syncsYaml: string,
  extra: { destination?: string; sources?: string[] } = {},
): Config {
  const sources = (extra.sources ?? ['web']).map((id) => `  - id: ${id}\n    apiKey: \${${keyVariable(id)}}`);
  return parseConfig(`
sources:${sources.length ? `\n${sources.join('\n')}` : ' []'}
destinations:
  - id: cio
    siteId: \${CIO_SITE_ID}
    trackApiKey: \${CIO_TRACK_API_KEY}
    appApiKey: \${CIO_APP_API_KEY}
    trackUrl: ${fake.url}
    appUrl: ${fake.url}
    timeout: 2s
${extra.destination ?? ''}
syncs:
${syncsYaml}
`);
}

/** Polls `fn` until it returns a truthy value or the timeout passes. */
export async function eventually<T>(
  fn: () => Promise<T> | T,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** An in-process ingest server on a free port, writing to the engine's store, with these sources. */
export function startTestIngest(engine: TestEngine, sources: string[]): Promise<RunningIngest> {
  return startIngest({
    config: testConfig(engine.fake, '  []', { sources }),
    store: engine.store,
    host: '127.0.0.1',
    port: 0,
    env: sourceKeyEnv(sources),
    logger: { level: 'silent' },
  });
}

/**
 * Starts the sync of `spec` with a config update (`next`) in its first workflow task
 * (update-with-start): what a sync meets when an update is sent the moment it was created.
 * Returns the update's answer and the sync's handle.
 */
export async function startWithConfigUpdate(engine: TestEngine, spec: SyncSpec, next: SyncSpec) {
  const { type, id } = spec.sync;
  const start = new WithStartWorkflowOperation(
    type === 'stream' ? 'streamSyncWorkflow' : 'cohortSyncWorkflow',
    {
      workflowId: workflowIdFor(type, id),
      taskQueue: engine.taskQueue,
      args: [{ spec }],
      workflowIdConflictPolicy: 'FAIL',
    },
  );
  // Both sync types answer the `updateConfig` update.
  const answer = await engine.client.workflow.executeUpdateWithStart(updateConfigUpdate, {
    args: [next as StreamSyncSpec],
    startWorkflowOperation: start,
  });
  return { answer, handle: await start.workflowHandle() };
}
