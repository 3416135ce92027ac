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
  RegionLookupError,
  detectRegion,
  type CioCallResult,
  type CioTransport,
} from '../customerio/client.ts';
import { resolveHosts, type CioRegion } from '../customerio/hosts.ts';
import { decide, type Hold } from '../customerio/policy.ts';
import type { Store } from '../store/store.ts';
import type { DeliveryMetrics } from './delivery-metrics.ts';

/**
 * The destination cannot be used as configured: a credential the worker's environment lacks, or a
 * region lookup that Customer.io answered with a hold (rejected key, wrong host). The sync holds.
 */
export class DestinationHoldError extends Error {
  override name = 'DestinationHoldError';
  readonly hold: Hold;
  constructor(hold: Hold) {
    super(hold.message);
    this.hold = hold;
  }
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

  /** The live client for a destination; throws DestinationHoldError naming an unset variable. */
  async client(destination: Destination): Promise<CustomerIoClient> {
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
      if (err instanceof MissingEnvError)
        throw new DestinationHoldError({ hold: 'credentials_missing', message: err.message });
      throw err;
    }
    if (!siteId || !trackApiKey) {
      throw new DestinationHoldError({
        hold: 'credentials_missing',
        message: `destination ${destination.id}: siteId or trackApiKey resolves to an empty value in the worker's environment`,
      });
    }
    // Before anything is sent: credentials go only to the region hosts or an override the worker allows.
    for (const field of ['trackUrl', 'appUrl'] as const) {
      const url = destination[field];
      const problem =
        url === undefined
          ? undefined
          : overrideProblem(url, `destination ${destination.id} ${field}`, this.#policy);
      if (problem) throw new DestinationHoldError({ hold: 'destination_unreachable', message: problem });
    }
    // The cache key holds a hash of the secrets, never the secrets themselves.
    const key = createHash('sha256')
      .update(JSON.stringify([destination, siteId, trackApiKey, appApiKey ?? '']))
      .digest('hex');
    const cached = this.#clients.get(destination.id);
    if (cached?.key === key) return cached.client;
    let region: CioRegion = destination.region === 'eu' ? 'eu' : 'us';
    if (destination.region === 'auto') {
      try {
        region = await detectRegion(siteId, trackApiKey, {
          trackUrl: destination.trackUrl,
          timeoutMs: destination.timeout,
        });
      } catch (err) {
        const decision = err instanceof RegionLookupError ? decide(err.outcome) : undefined;
        if (decision?.action === 'hold') {
          const { hold, message, status } = decision;
          throw new DestinationHoldError({ hold, message: `region lookup: ${message}`, status });
        }
        throw err;
      }
    }
    const client = new CustomerIoClient({
      hosts: resolveHosts(region, overrides(destination)),
      siteId,
      trackApiKey,
      appApiKey,
      timeoutMs: destination.timeout,
      connections: connectionsFor(destination),
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
      status: 'status' in result.outcome ? result.outcome.status : undefined,
      outcome: result.outcome.kind,
      durationMs: result.durationMs,
    });
}

function overrides(destination: Destination) {
  return { trackUrl: destination.trackUrl, appUrl: destination.appUrl };
}

/**
 * Sockets to one destination: enough for its whole request budget at 100 ms a request (many syncs
 * share one client, and with a socket per request in flight, too few cap the requests a second
 * below the budget: 16 at 30 ms is about 470), and at least 16.
 */
export function connectionsFor(destination: Pick<Destination, 'requestsPerSecond'>): number {
  return Math.max(16, Math.ceil(destination.requestsPerSecond / 10));
}
