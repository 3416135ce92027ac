import { NativeConnection, Worker } from '@temporalio/worker';

import { createActivities } from './activities/index.ts';
import { openStore } from './store/index.ts';
import type { Store } from './store/store.ts';
import { bundleWorkflows } from './temporal/bundle.ts';
import { engineSettings, type EngineSettings } from './temporal/settings.ts';

export interface WorkerOptions extends Partial<EngineSettings> {
  store?: Store;
  /** A pre-built workflow bundle (tests build it once per run). */
  workflowBundlePath?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  /** Stops polling, lets in-flight activities finish or hand back, then closes connections. */
  shutdown(): Promise<void>;
}

/** Builds and starts a worker hosting every workflow and activity of cio-sync. */
export async function startWorker(options: WorkerOptions = {}): Promise<RunningWorker> {
  const settings = { ...engineSettings(options.env), ...stripUndefined(options) };
  const bundlePath =
    options.workflowBundlePath ??
    options.env?.CIO_SYNC_WORKFLOW_BUNDLE ??
    process.env.CIO_SYNC_WORKFLOW_BUNDLE;
  const ownStore = !options.store;
  const store = options.store ?? (await openStore(settings.storeUrl));
  const connection = await NativeConnection.connect({ address: settings.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    // Bundled here (quietly) unless a pre-built bundle is given.
    workflowBundle: bundlePath ? { codePath: bundlePath } : { code: await bundleWorkflows() },
    activities: createActivities({ store, env: options.env ?? process.env }),
    // Deliveries are long-polls; leave room for many syncs per worker.
    maxConcurrentActivityTaskExecutions: 200,
    // In-flight deliveries get time to finish their request on SIGTERM before they are cancelled.
    shutdownGraceTime: '20 seconds',
  });
  const done = worker.run().finally(async () => {
    await connection.close();
    if (ownStore) await store.close();
  });
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function main(): Promise<void> {
  const running = await startWorker();
  console.log(
    JSON.stringify({ level: 'info', msg: 'worker started', taskQueue: running.worker.options.taskQueue }),
  );
  // The SDK's Runtime stops the worker on SIGINT/SIGTERM; we wait for it to drain.
  await running.done;
}

if (import.meta.main) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
