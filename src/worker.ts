import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';

import { DestinationClients } from './activities/destinations.ts';
import { createActivities } from './activities/index.ts';
import { createLogger, temporalLevelOf, temporalLogger } from './logging.ts';
import { startMetricsServer, type MetricsServer } from './metrics-server.ts';
import { WorkerMetrics } from './metrics.ts';
import { loadSettings, type Settings } from './settings.ts';
import { WORKFLOW_THREAD_SEMI_SPACE_MB } from './worker-tuning.ts';
import { openStore } from './store/index.ts';
import type { Store } from './store/store.ts';
import { bundleWorkflows } from './temporal/bundle.ts';
import { withNewIsolateSemiSpace } from './temporal/workflow-thread.ts';
import { recordsArrivedSignal } from './workflows/sync-api.ts';

/**
 * The worker entry point (`node src/worker.ts`), and startWorker() for running it in-process.
 *
 * Settings (src/settings.ts): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CIO_SYNC_TASK_QUEUE,
 * CIO_SYNC_STORE, CIO_SYNC_WORKFLOW_BUNDLE, CIO_SYNC_METRICS_HOST / _PORT, LOG_LEVEL, the worker's
 * environment policy; and the destinations' `${ENV}` references.
 */

/** How long in-flight activities get to finish on SIGTERM before the SDK cancels them. */
export const SHUTDOWN_GRACE_MS = 20_000;

export interface WorkerOptions {
  temporalAddress?: string;
  namespace?: string;
  taskQueue?: string;
  storeUrl?: string;
  store?: Store;
  /** A pre-built workflow bundle (tests build it once per run). */
  workflowBundlePath?: string;
  env?: NodeJS.ProcessEnv;
  /** Serve `/metrics` and `/health` on this port (0: a free one); no HTTP server when undefined. */
  metricsPort?: number;
  metricsHost?: string;
  /** The worker's own log lines; silent when not given. */
  logger?: Logger;
}

export interface RunningWorker {
  worker: Worker;
  metrics: WorkerMetrics;
  /** `http://host:port` of the metrics server, when one is listening. */
  metricsUrl?: string;
  /** Resolves when the worker has stopped and its connections, metrics server and store are closed. */
  done: Promise<void>;
  /**
   * Stops polling, hands back deliveries still waiting for records, lets the others finish (up to
   * the grace time, then they are cancelled), then closes everything.
   */
  shutdown(): Promise<void>;
}

/** Builds and starts a worker hosting every workflow and activity of cio-sync. */
export async function startWorker(options: WorkerOptions = {}): Promise<RunningWorker> {
  const env = options.env ?? process.env;
  const settings = { ...loadSettings(env), ...stripUndefined(options) };
  const log = options.logger ?? createLogger({ level: 'silent' });
  const bundlePath = options.workflowBundlePath ?? settings.workflowBundle;
  const ownStore = !options.store;
  const store = options.store ?? (await openStore(settings.storeUrl));
  const metrics = new WorkerMetrics();
  const clients = new DestinationClients(store, env, metrics);
  const shuttingDown = new AbortController();
  let connection: NativeConnection | undefined;
  let created: Worker;
  try {
    connection = await NativeConnection.connect({ address: settings.temporalAddress });
    // The doorbell's signals go out on the worker's own connection.
    const client = new Client({ connection, namespace: settings.namespace });
    const ringWorkflow = (workflowId: string) =>
      client.workflow.getHandle(workflowId).signal(recordsArrivedSignal);
    // Bundled here (quietly) unless a pre-built bundle is given.
    const workflowBundle = bundlePath ? { codePath: bundlePath } : { code: await bundleWorkflows() };
    // The workflow thread gets a young generation of its own size (see WORKFLOW_THREAD_SEMI_SPACE_MB).
    created = await withNewIsolateSemiSpace(WORKFLOW_THREAD_SEMI_SPACE_MB, process.env, () =>
      Worker.create({
        connection,
        namespace: settings.namespace,
        taskQueue: settings.taskQueue,
        workflowBundle,
        activities: createActivities({
          store,
          env,
          metrics,
          clients,
          shutdownSignal: shuttingDown.signal,
          ringWorkflow,
        }),
        // Deliveries are long-polls that wait on the store, not on CPU: leave room for many syncs
        // (and their lanes) per worker.
        maxConcurrentActivityTaskExecutions: 1000,
        // In-flight deliveries get time to finish their request on SIGTERM before they are cancelled.
        shutdownGraceTime: SHUTDOWN_GRACE_MS,
      }),
    );
  } catch (err) {
    await connection?.close();
    if (ownStore) await store.close();
    throw err;
  }
  const [worker, conn] = [created, connection];
  const running = worker.run();
  let server: MetricsServer | undefined;
  if (options.metricsPort !== undefined) {
    try {
      server = await startMetricsServer({
        registry: metrics.registry,
        port: options.metricsPort,
        host: options.metricsHost,
        healthy: () => ({ ok: worker.getState() === 'RUNNING', state: worker.getState().toLowerCase() }),
      });
    } catch (err) {
      // Metrics are for watching; a port clash must not stop the syncs. Prometheus shows the target down.
      log.error({ err, port: options.metricsPort }, 'metrics server could not start; running without it');
    }
  }
  const done = running.finally(async () => {
    await server?.close();
    await clients.close();
    await conn.close();
    if (ownStore) await store.close();
  });
  return {
    worker,
    metrics,
    metricsUrl: server?.url,
    done,
    async shutdown() {
      shuttingDown.abort();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function main(logger: Logger, settings: Settings): Promise<void> {
  const level = settings.logLevel;
  Runtime.install({
    logger: temporalLogger(logger.child({ component: 'temporal' })),
    // Core's own lines (connection trouble, poll errors) go through the same JSON logger.
    telemetryOptions: { logging: { forward: {}, filter: { core: temporalLevelOf(level), other: 'ERROR' } } },
    // The signals are handled below: shutdown() first releases deliveries waiting for records.
    shutdownSignals: [],
  });
  const running = await startWorker({
    logger,
    metricsPort: settings.metricsPort,
    metricsHost: settings.metricsHost,
  });
  const { taskQueue, namespace } = running.worker.options;
  logger.info(
    { taskQueue, namespace, metrics: running.metricsUrl && `${running.metricsUrl}/metrics` },
    'worker started',
  );
  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal, graceMs: SHUTDOWN_GRACE_MS }, 'worker shutting down');
    // A second signal gets Node's default: stop at once.
    void running.shutdown().catch(() => {});
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  await running.done;
  logger.info('worker stopped');
}

if (import.meta.main) {
  let logger: Logger | undefined;
  try {
    const settings = loadSettings();
    logger = createLogger({ level: settings.logLevel });
    await main(logger, settings);
    process.exitCode = 0;
  } catch (err) {
    if (logger) logger.fatal({ err }, 'worker failed');
    else console.error(JSON.stringify({ level: 60, msg: err instanceof Error ? err.message : String(err) }));
    process.exitCode = 1;
  }
  // Everything is closed; a handle some library left open must not keep a stopped worker around.
  setTimeout(() => process.exit(), 5000).unref();
}
