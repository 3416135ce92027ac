import { createHash } from 'node:crypto';

import type { Destination } from '../config/schema.ts';
import { MissingEnvError } from '../config/env.ts';
import {
  WORKER_ENV_SETTINGS,
  overrideProblem,
  resolveAllowed,
  tryResolveAllowed,
  workerEnvPolicy,
  type WorkerEnvPolicy,
} from '../config/worker-env.ts';
import {
  CustomerIoClient,
  detectRegion,
  type CioCallResult,
  type CioTransport,
} from '../customerio/client.ts';
import { resolveHosts, type CioRegion } from '../customerio/hosts.ts';
import type { Store } from '../store/store.ts';
import type { DeliveryMetrics } from './index.ts';

/** Credentials a destination needs but the worker's environment does not have. */
export class MissingCredentialsError extends Error {
  override name = 'MissingCredentialsError';
}

/**
 * Customer.io clients per destination, built from the worker's own environment (secrets never
 * travel through Temporal), under the worker's policy (config/worker-env.ts): only allowed
 * variables, and only the region hosts unless the worker allows an override host. A client is rebuilt when its config or credentials change, so fixing
 * a key in the environment and restarting — or a config update — takes effect without a redeploy.
 */
export class DestinationClients {
  readonly #store: Store;
  readonly #env: NodeJS.ProcessEnv;
  /** Which variables destination fields may read, and which override hosts credentials may go to. */
  readonly #policy: WorkerEnvPolicy;
  readonly #metrics: DeliveryMetrics | undefined;
  readonly #clients = new Map<string, { key: string; client: CustomerIoClient }>();

  constructor(store: Store, env: NodeJS.ProcessEnv, metrics?: DeliveryMetrics) {
    this.#store = store;
    this.#env = env;
    this.#policy = workerEnvPolicy(env);
    this.#metrics = metrics;
  }

  /** Whether this destination records instead of sending (`dryRun: true`, or `auto` without credentials). */
  isDryRun(destination: Destination): boolean {
    if (destination.dryRun === true) return true;
    if (destination.dryRun === false) return false;
    // `${VAR:-}` resolves to '' when unset: an empty credential counts as missing too.
    const allowed = this.#policy.destinationVariables;
    return (
      !tryResolveAllowed(destination.siteId, this.#env, allowed) ||
      !tryResolveAllowed(destination.trackApiKey, this.#env, allowed)
    );
  }

  /** A client that records every request in the store for `syncId` instead of sending it. */
  dryRunClient(destination: Destination, syncId: string): CustomerIoClient {
    const transport: CioTransport = async (req) => {
      await this.#store.captureRequests([
        {
          syncId,
          destinationId: destination.id,
          method: req.method,
          url: req.url,
          body: req.body === undefined ? null : JSON.parse(req.body),
        },
      ]);
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
    };
    return new CustomerIoClient({
      hosts: resolveHosts(destination.region === 'eu' ? 'eu' : 'us', overrides(destination)),
      siteId: 'dry-run',
      trackApiKey: 'dry-run',
      appApiKey: 'dry-run',
      timeoutMs: destination.timeout,
      transport,
    });
  }

  /** The live client for a destination; throws MissingCredentialsError naming the unset variable. */
  async client(destination: Destination): Promise<CustomerIoClient> {
    // Hosts first: a config that would send the credentials elsewhere gets none of them resolved.
    for (const field of ['trackUrl', 'appUrl'] as const) {
      const url = destination[field];
      const problem =
        url === undefined
          ? undefined
          : overrideProblem(url, `destination ${destination.id} ${field}`, this.#policy);
      if (problem) throw new MissingCredentialsError(problem);
    }
    let siteId: string, trackApiKey: string, appApiKey: string | undefined;
    const allowed = this.#policy.destinationVariables;
    const setting = WORKER_ENV_SETTINGS.destinationVariables;
    const resolve = (value: string, field: string) =>
      resolveAllowed(value, `destination ${destination.id} ${field}`, this.#env, allowed, setting);
    try {
      siteId = resolve(destination.siteId, 'siteId');
      trackApiKey = resolve(destination.trackApiKey, 'trackApiKey');
      appApiKey = destination.appApiKey
        ? tryResolveAllowed(destination.appApiKey, this.#env, allowed)
        : undefined;
    } catch (err) {
      if (err instanceof MissingEnvError) throw new MissingCredentialsError(err.message);
      throw err;
    }
    if (!siteId || !trackApiKey) {
      throw new MissingCredentialsError(
        `destination ${destination.id}: siteId or trackApiKey resolves to an empty value`,
      );
    }
    // The cache key holds a hash of the secrets, never the secrets themselves.
    const key = createHash('sha256')
      .update(JSON.stringify([destination, siteId, trackApiKey, appApiKey ?? '']))
      .digest('hex');
    const cached = this.#clients.get(destination.id);
    if (cached?.key === key) return cached.client;
    let region: CioRegion = destination.region === 'eu' ? 'eu' : 'us';
    if (destination.region === 'auto') {
      region = await detectRegion(siteId, trackApiKey, {
        trackUrl: destination.trackUrl,
        timeoutMs: destination.timeout,
      });
    }
    const client = new CustomerIoClient({
      hosts: resolveHosts(region, overrides(destination)),
      siteId,
      trackApiKey,
      appApiKey,
      timeoutMs: destination.timeout,
      // Only live clients report: a dry run's recorded requests never reached Customer.io.
      onResult: this.#metrics && observer(this.#metrics, destination.id),
    });
    this.#clients.set(destination.id, { key, client });
    if (cached) await cached.client.close();
    return client;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients.values()].map(({ client }) => client.close()));
    this.#clients.clear();
  }
}

function observer(metrics: DeliveryMetrics, destination: string) {
  return (result: CioCallResult) =>
    metrics.onCustomerIoCall({
      destination,
      api: result.request.api,
      status: result.outcome.status,
      outcome: result.outcome.kind,
      durationMs: result.durationMs,
    });
}

function overrides(destination: Destination) {
  return { trackUrl: destination.trackUrl, appUrl: destination.appUrl };
}
