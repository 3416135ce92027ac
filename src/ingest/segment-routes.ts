import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { isPlainObject } from '../json-values.ts';
import { SEGMENT_PATH_LETTERS, SEGMENT_TYPES, type SegmentType } from '../events/segment.ts';
import { decodeBody, parseJson } from './body.ts';
import { commitRecords, type IngestContext, type IngestRouteConfig } from './context.ts';
import { IngestError } from './errors.ts';
import { segmentRecords } from './request-checks.ts';

/**
 * Segment's tracking API: `/v1/<type>`, `/v1/batch`, and analytics.js's one-letter paths (`/v1/t`,
 * …, `/v1/b`), whose bodies come as `Content-Type: text/plain` to avoid a CORS preflight; every
 * body is read as JSON whatever its declared type.
 *
 * Where Segment answers 200 and drops a call later (no userId/anonymousId, a track without `event`,
 * more than 2500 items), this endpoint answers 400 naming the items and stores none of the request:
 * nothing is dropped silently. The clients do not retry a 400, so the caller learns of it through
 * the client's error callback instead of a debugger nobody watches.
 */

/**
 * The write key from `Authorization: Basic base64(writeKey:)` (the colon is optional, as at Segment),
 * else from the body's `writeKey`.
 */
export function writeKeyOf(authorization: string | undefined, body: unknown): string | undefined {
  const match = /^Basic\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (match) {
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const key = colon === -1 ? decoded : decoded.slice(0, colon);
    if (key !== '') return key;
  }
  const fromBody = isPlainObject(body) ? body.writeKey : undefined;
  return typeof fromBody === 'string' && fromBody !== '' ? fromBody : undefined;
}

function sourceOfKey(ctx: IngestContext, key: string): string {
  const sourceId = ctx.sourceByKey.get(key);
  if (sourceId === undefined) throw new IngestError('invalid_api_key', 'Invalid write key');
  return sourceId;
}

/**
 * Runs before the body is read: a call whose Authorization header carries an unknown write key is
 * refused at once, without reading, inflating or parsing a byte of it. The connection is closed
 * rather than drained, since what is left of the body is of no use.
 */
async function authenticateHeader(ctx: IngestContext, request: FastifyRequest, reply: FastifyReply) {
  const key = writeKeyOf(request.headers.authorization, undefined);
  if (key !== undefined && !ctx.sourceByKey.has(key)) {
    reply.header('connection', 'close');
    throw new IngestError('invalid_api_key', 'Invalid write key');
  }
}

function authenticate(ctx: IngestContext, request: FastifyRequest, body: unknown): string {
  const key = writeKeyOf(request.headers.authorization, body);
  if (key === undefined) {
    throw new IngestError(
      'missing_api_key',
      'no write key: send Authorization: Basic base64(writeKey:) or writeKey',
    );
  }
  return sourceOfKey(ctx, key);
}

async function ingest(
  ctx: IngestContext,
  request: FastifyRequest,
  reply: FastifyReply,
  maxBytes: number,
  call: SegmentType | 'batch',
) {
  const receivedAt = ctx.now();
  const fromHeader = writeKeyOf(request.headers.authorization, undefined) !== undefined;
  const body = await ctx.decodes.run(
    async () => {
      // Without a header key (analytics.js sends it in the body), the body's writeKey is verified as
      // soon as the decoder yields it.
      const raw = await decodeBody(
        request.body,
        request.headers['content-encoding'],
        maxBytes,
        fromHeader
          ? undefined
          : { field: 'writeKey', preAuthBytes: maxBytes, verify: (key) => sourceOfKey(ctx, key) },
      );
      if (raw.length === 0) throw new IngestError('missing_body', 'Missing request body');
      return parseJson(raw);
    },
    { body: request.body, encoding: request.headers['content-encoding'] },
  );
  const sourceId = authenticate(ctx, request, body);
  const records = segmentRecords(body, call, ctx.limits, receivedAt);
  await commitRecords(ctx, sourceId, records, 'segment');
  return reply.send({ success: true });
}

export function registerSegmentRoutes(app: FastifyInstance, ctx: IngestContext): void {
  const config: IngestRouteConfig = { family: 'segment' };
  const { segmentCallBytes, segmentBatchBytes } = ctx.limits;
  const onRequest = (request: FastifyRequest, reply: FastifyReply) => authenticateHeader(ctx, request, reply);

  const single = (type: SegmentType) => (request: FastifyRequest, reply: FastifyReply) =>
    ingest(ctx, request, reply, segmentCallBytes, type);
  for (const type of SEGMENT_TYPES) {
    app.post(`/v1/${type}`, { bodyLimit: segmentCallBytes, config, onRequest }, single(type));
  }
  for (const [letter, type] of Object.entries(SEGMENT_PATH_LETTERS)) {
    app.post(`/v1/${letter}`, { bodyLimit: segmentCallBytes, config, onRequest }, single(type));
  }

  const batch = (request: FastifyRequest, reply: FastifyReply) =>
    ingest(ctx, request, reply, segmentBatchBytes, 'batch');
  app.post('/v1/batch', { bodyLimit: segmentBatchBytes, config, onRequest }, batch);
  app.post('/v1/b', { bodyLimit: segmentBatchBytes, config, onRequest }, batch);
}
