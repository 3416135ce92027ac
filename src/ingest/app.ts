import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyLoggerOptions,
  type FastifyRequest,
} from 'fastify';
import type { LoggerOptions as PinoLoggerOptions } from 'pino';

import { REDACT_CENSOR, REDACT_PATHS } from '../logging.ts';
import { renderMetrics, type IngestMetrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import { registerAmplitudeDeletionRoutes } from './amplitude-deletions.ts';
import { registerAmplitudeRoutes } from './amplitude-routes.ts';
import {
  DEFAULT_LIMITS,
  type IngestContext,
  type IngestLimits,
  type IngestRouteConfig,
  type WebhookSecrets,
} from './context.ts';
import {
  apiOf,
  countRejected,
  createIngestCounters,
  type ApiFamily,
  type IngestCounters,
} from './counters.ts';
import {
  DEFAULT_CONNECTION_LIMITS,
  fastifyConnectionOptions,
  type ConnectionLimits,
} from './connection-limits.ts';
import { DecodeSlots } from './decode-slots.ts';
import { IngestError, toIngestError } from './errors.ts';
import { GroupCommit } from './group-commit.ts';
import {
  amplitudeErrorResponse,
  plainErrorResponse,
  segmentErrorResponse,
  webhookErrorResponse,
  type ErrorResponse,
} from './responses.ts';
import { registerSegmentRoutes } from './segment-routes.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';

export type { IngestLimits } from './context.ts';
export { DEFAULT_LIMITS } from './context.ts';
export { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-limits.ts';
export { createIngestCounters, type IngestCounters } from './counters.ts';

export interface IngestSource {
  id: string;
  /** The resolved key: what the Amplitude SDK sends as `api_key`, or the Segment write key. */
  apiKey: string;
  /** The resolved secret key of Amplitude's deletion API (Basic `apiKey:secretKey`); none: no deletions. */
  secretKey?: string;
  /** Resolved webhook secrets: /webhooks/<platform>/<id> answers only with its platform's. */
  webhooks?: WebhookSecrets;
  /** Store each insert id once (appendNew) on every route; default: when the source has webhooks. */
  dedupe?: boolean;
}

export type IngestLoggerOptions = boolean | (FastifyLoggerOptions & PinoLoggerOptions);

export interface IngestAppOptions {
  store: Store;
  sources: readonly IngestSource[];
  /** Fastify/pino logger options; keys and Authorization headers are redacted whatever is passed. */
  logger?: IngestLoggerOptions;
  limits?: Partial<IngestLimits>;
  /** Header, body and idle timeouts and the connection cap of the HTTP server. */
  connections?: Partial<ConnectionLimits>;
  /** Counters to update (pass your own to read them in-process). */
  counters?: IngestCounters;
  /** Prometheus metrics to update and serve at GET /metrics; no such route without them. */
  metrics?: IngestMetrics;
  /** Receive-time clock; tests pin it. */
  now?: () => number;
}

/** Method and path only: GET /identify carries `api_key` in its query string. */
function requestSerializer(request: FastifyRequest) {
  const url = request.url ?? '';
  const query = url.indexOf('?');
  return { method: request.method, url: query === -1 ? url : url.slice(0, query), remoteAddress: request.ip };
}

function loggerOptions(logger: IngestLoggerOptions | undefined): IngestLoggerOptions {
  if (!logger) return false;
  const base = logger === true ? {} : logger;
  const extra = Array.isArray(base.redact) ? base.redact : (base.redact?.paths ?? []);
  return {
    ...base,
    // The request serializer below already leaves out headers and the query string; these catch
    // anything logged by hand.
    redact: { paths: [...REDACT_PATHS, ...extra], censor: REDACT_CENSOR },
    serializers: { ...base.serializers, req: requestSerializer },
  };
}

function sourceMap(sources: readonly IngestSource[]): Map<string, string> {
  const byKey = new Map<string, string>();
  for (const source of sources) {
    if (source.apiKey === '') throw new Error(`ingest: source "${source.id}" has an empty api key`);
    const other = byKey.get(source.apiKey);
    // Never print the key: naming the two sources is enough to find it.
    if (other !== undefined) {
      throw new Error(`ingest: sources "${other}" and "${source.id}" have the same api key`);
    }
    byKey.set(source.apiKey, source.id);
  }
  return byKey;
}

function logsRequests(logger: IngestLoggerOptions | undefined): boolean {
  const level = typeof logger === 'object' ? logger.level : undefined;
  return level === 'debug' || level === 'trace';
}

function familyOf(request: FastifyRequest): ApiFamily {
  const config = request.routeOptions?.config as Partial<IngestRouteConfig> | undefined;
  return config?.family ?? 'plain';
}

function errorResponse(family: ApiFamily, error: IngestError): ErrorResponse {
  if (family === 'amplitude' || family === 'amplitude-identify') return amplitudeErrorResponse(error);
  if (family === 'segment') return segmentErrorResponse(error);
  if (family === 'amplitude-webhook' || family === 'segment-webhook') return webhookErrorResponse(error);
  return plainErrorResponse(error);
}

/**
 * The ingest HTTP app, built but not listening: tests use `inject()` or `listen({ port: 0 })`.
 * Every acknowledged request has been committed to the store (see commitRecords).
 */
export function buildIngestApp(options: IngestAppOptions): FastifyInstance {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const ctx: IngestContext = {
    store: options.store,
    sourceByKey: sourceMap(options.sources),
    webhooks: new Map(options.sources.flatMap((s) => (s.webhooks ? [[s.id, s.webhooks] as const] : []))),
    dedupe: new Set(options.sources.filter((s) => s.dedupe ?? s.webhooks !== undefined).map((s) => s.id)),
    commits: new GroupCommit(options.store),
    counters: options.counters ?? createIngestCounters(),
    metrics: options.metrics,
    limits,
    decodes: new DecodeSlots(limits.maxConcurrentDecodes, limits.decodeWaitMs),
    now: options.now ?? Date.now,
  };
  const timeouts = { ...DEFAULT_CONNECTION_LIMITS, ...options.connections };
  const app = Fastify({
    logger: loggerOptions(options.logger),
    // Two log lines for every acknowledged request would be most of ingest's output and a share of
    // its CPU at thousands a second: they are written at debug and trace only. Requests are counted
    // and timed in the metrics, and every refused or failed one is logged by the error handler.
    logController: new LogController({ disableRequestLogging: !logsRequests(options.logger) }),
    ...fastifyConnectionOptions(timeouts),
  });
  app.server.maxConnections = timeouts.maxConnections;

  // Routes get raw bytes whatever the Content-Type: analytics.js posts JSON as text/plain, the
  // Identify APIs post forms, and bodies may be gzipped. Each route decodes and limits them itself.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((raw, request, reply) => {
    const error = toIngestError(raw);
    countRejected(ctx, error.reason);
    const { status, body } = errorResponse(familyOf(request), error);
    if (status >= 500) {
      request.log.error({ err: error.cause ?? error, reason: error.reason }, 'ingest request failed');
    } else {
      request.log.info({ reason: error.reason, detail: error.message }, 'ingest request rejected');
    }
    return reply.code(status).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new IngestError('not_found', 'Invalid request path');
    countRejected(ctx, error.reason);
    const { status, body } = plainErrorResponse(error);
    return reply.code(status).send(body);
  });

  const metrics = options.metrics;
  if (metrics) {
    app.addHook('onResponse', async (request, reply) => {
      const api = apiOf(familyOf(request));
      metrics.requestDuration.observe({ api, status: reply.statusCode }, reply.elapsedTime / 1000);
    });
    app.get(
      '/metrics',
      { config: { family: 'plain' } satisfies IngestRouteConfig },
      async (_request, reply) => {
        const { contentType, body } = await renderMetrics(metrics.registry);
        return reply.type(contentType).send(body);
      },
    );
  }

  registerAmplitudeRoutes(app, ctx);
  registerAmplitudeDeletionRoutes(app, ctx, options.sources);
  registerSegmentRoutes(app, ctx);
  registerWebhookRoutes(app, ctx);

  const probeSource = options.sources[0]?.id ?? '__health__';
  const plain: IngestRouteConfig = { family: 'plain' };
  app.get('/health', { config: plain }, async (request, reply) => {
    try {
      await ctx.store.headSeq(probeSource);
    } catch (err) {
      request.log.error({ err }, 'health: store check failed');
      return reply.code(503).send({ status: 'unavailable', error: 'store check failed' });
    }
    return reply.send({ status: 'ok' });
  });

  return app;
}
