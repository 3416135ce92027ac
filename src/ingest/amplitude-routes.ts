import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import {
  checkAmplitudeGroupIdentifications,
  checkAmplitudeIdentifications,
  countGroupProperties,
  parseIdentification,
} from '../events/amplitude.ts';
import { fromAmplitudeGroupIdentify, fromAmplitudeIdentify } from '../events/normalize.ts';
import { decodeBody, parseFormFields, parseJson } from './body.ts';
import { commitRecords, type IngestContext, type IngestRouteConfig } from './context.ts';
import { IngestError } from './errors.ts';
import { amplitudeUploadRecords, checkAmplitudeRecords } from './request-checks.ts';

/**
 * Amplitude's HTTP V2 (`/2/httpapi`), Batch (`/batch`), Identify (`/identify`) and Group Identify
 * (`/groupidentify`) endpoints.
 *
 * A request with any invalid event is answered 400 naming the bad indexes, and none of its events is
 * stored. The Amplitude SDKs drop exactly the indexes named and send the other events again in a
 * later request: storing them now would store them twice, while storing nothing loses nothing
 * because the SDK still holds them. (An explicit `client.flush()` sends without retry and reports
 * the 400 for every event of the batch: the caller is told, nothing is silently lost.)
 */

function sourceOf(ctx: IngestContext, apiKey: unknown): string {
  if (typeof apiKey !== 'string' || apiKey === '') {
    throw new IngestError('missing_api_key', 'api_key is missing', { missingField: 'api_key' });
  }
  const sourceId = ctx.sourceByKey.get(apiKey);
  if (sourceId === undefined) throw new IngestError('invalid_api_key', 'Invalid API key');
  return sourceId;
}

function uploadRoute(ctx: IngestContext, maxBytes: number) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = ctx.now();
    const { body, json } = await ctx.decodes.run(
      async () => {
        // The key is verified as soon as the decoder yields it, before the rest is inflated.
        const body = await decodeBody(request.body, request.headers['content-encoding'], maxBytes, {
          field: 'api_key',
          preAuthBytes: ctx.limits.preAuthBytes,
          verify: (key) => sourceOf(ctx, key),
        });
        if (body.length === 0) throw new IngestError('missing_body', 'Missing request body');
        return { body, json: parseJson(body) };
      },
      { body: request.body, encoding: request.headers['content-encoding'] },
    );
    // The key first: a missing or unknown key makes the SDK drop the batch, whatever else is wrong.
    const sourceId = sourceOf(ctx, (json as { api_key?: unknown } | null)?.api_key);
    const records = amplitudeUploadRecords(json, ctx.limits, receivedAt, { ip: request.ip });
    await commitRecords(ctx, sourceId, records, 'amplitude');
    return reply.send({
      code: 200,
      events_ingested: records.length,
      payload_size_bytes: body.length,
      server_upload_time: receivedAt,
    });
  };
}

/** `api_key` and `identification` from the form body, else from the query string (GET). */
async function identifyFields(ctx: IngestContext, request: FastifyRequest) {
  const query = (request.query ?? {}) as Record<string, unknown>;
  const fields =
    request.method === 'GET'
      ? new Map<string, unknown>()
      : await ctx.decodes.run(async () =>
          parseFormFields(
            await decodeBody(
              request.body,
              request.headers['content-encoding'],
              ctx.limits.amplitudeIdentifyBytes,
            ),
            request.headers['content-type'],
          ),
        );
  const field = (name: string) => {
    const value = fields.get(name) ?? query[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const sourceId = sourceOf(ctx, field('api_key'));
  const identification = parseIdentification(field('identification'));
  if (!identification.ok) {
    // Amplitude's Identify API calls a missing or malformed `identification` "missing_event".
    throw new IngestError(
      'missing_field',
      'missing_event',
      identification.missing ? { missingField: 'identification' } : {},
    );
  }
  return { sourceId, items: identification.items };
}

function identifyRoute(ctx: IngestContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = ctx.now();
    const { sourceId, items } = await identifyFields(ctx, request);
    const checked = checkAmplitudeIdentifications(items);
    if (!checked.ok) {
      throw new IngestError('invalid_events', checked.errors.error, { itemErrors: checked.errors });
    }
    const records = checked.items.map((item) => fromAmplitudeIdentify(item, receivedAt, { ip: request.ip }));
    checkAmplitudeRecords(records);
    await commitRecords(ctx, sourceId, records, 'amplitude');
    return reply.type('text/plain; charset=utf-8').send('success');
  };
}

function groupIdentifyRoute(ctx: IngestContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = ctx.now();
    const { sourceId, items } = await identifyFields(ctx, request);
    const max = ctx.limits.amplitudeGroupIdentifyMax;
    if (items.length > max) throw new IngestError('too_many_events', `more than ${max} group identifies`);
    const checked = checkAmplitudeGroupIdentifications(items);
    if (!checked.ok) {
      throw new IngestError('invalid_events', checked.errors.error, { itemErrors: checked.errors });
    }
    if (countGroupProperties(checked.items) > max) {
      throw new IngestError('too_many_events', `more than ${max} group properties`);
    }
    const records = checked.items.map((item) =>
      fromAmplitudeGroupIdentify(item, receivedAt, { ip: request.ip }),
    );
    checkAmplitudeRecords(records);
    await commitRecords(ctx, sourceId, records, 'amplitude');
    return reply.type('text/plain; charset=utf-8').send('success');
  };
}

export function registerAmplitudeRoutes(app: FastifyInstance, ctx: IngestContext): void {
  const amplitude: IngestRouteConfig = { family: 'amplitude' };
  const identify: IngestRouteConfig = { family: 'amplitude-identify' };
  const { amplitudeHttpApiBytes, amplitudeBatchBytes, amplitudeIdentifyBytes } = ctx.limits;
  app.post(
    '/2/httpapi',
    { bodyLimit: amplitudeHttpApiBytes, config: amplitude },
    uploadRoute(ctx, amplitudeHttpApiBytes),
  );
  app.post(
    '/batch',
    { bodyLimit: amplitudeBatchBytes, config: amplitude },
    uploadRoute(ctx, amplitudeBatchBytes),
  );
  for (const [path, handler] of [
    ['/identify', identifyRoute(ctx)],
    ['/groupidentify', groupIdentifyRoute(ctx)],
  ] as const) {
    app.post(path, { bodyLimit: amplitudeIdentifyBytes, config: identify }, handler);
    app.get(path, { config: identify }, handler);
  }
}
