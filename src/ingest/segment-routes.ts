import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { isPlainObject } from '../json-values.ts';
import { fromSegment } from '../events/normalize.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { checkRecordLimits, checkValueLimits, type LimitViolation } from '../events/record-limits.ts';
import {
  parseSegmentBatch,
  parseSegmentCall,
  SEGMENT_PATH_LETTERS,
  SEGMENT_TYPES,
  type SegmentParse,
  type SegmentProblem,
  type SegmentType,
} from '../events/segment.ts';
import { decodeBody, parseJson } from './body.ts';
import { commitRecords, type IngestContext, type IngestRouteConfig } from './context.ts';
import { IngestError } from './errors.ts';

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

function describe(problems: SegmentProblem[]): string {
  const first = problems[0];
  if (!first) return 'invalid request';
  const where = first.index === undefined ? '' : `batch item ${first.index}: `;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return `${where}${first.field}: ${first.message}${more}`;
}

async function ingest(
  ctx: IngestContext,
  request: FastifyRequest,
  reply: FastifyReply,
  maxBytes: number,
  parse: (body: unknown) => SegmentParse,
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
  const parsed = parse(body);
  if (!parsed.ok) {
    throw new IngestError('invalid_events', describe(parsed.problems), { problems: parsed.problems });
  }
  const records = parsed.calls.map((call) => fromSegment(call, receivedAt));
  checkRecords(records, Array.isArray((body as { batch?: unknown }).batch));
  await commitRecords(ctx, sourceId, records, 'segment');
  return reply.send({ success: true });
}

function limitProblem(found: LimitViolation, index: number | undefined): SegmentProblem {
  const field = found.path === '' ? (index === undefined ? 'body' : 'item') : found.path;
  return index === undefined ? { field, message: found.detail } : { index, field, message: found.detail };
}

function limitError(problems: SegmentProblem[], sizeOnly: boolean): IngestError {
  return new IngestError(sizeOnly ? 'payload_too_large' : 'invalid_events', describe(problems), { problems });
}

/** The normalized records (a batch's context merged in) against the record limits. */
function checkRecords(records: readonly CanonicalRecord[], batch: boolean): void {
  const problems: SegmentProblem[] = [];
  let sizeOnly = true;
  records.forEach((record, index) => {
    const found = checkRecordLimits(record);
    if (!found) return;
    sizeOnly &&= found.limit === 'record_size';
    problems.push(limitProblem(found, batch ? index : undefined));
  });
  if (problems.length > 0) throw limitError(problems, sizeOnly);
}

/**
 * One call's raw body against the record limits, before anything recursive walks it; its size
 * is already bounded by the route's body limit.
 */
function checkCallLimits(body: unknown): void {
  const found = checkValueLimits(body);
  if (found) throw limitError([limitProblem(found, undefined)], false);
}

/** Segment's per-item limits (and the record limits), checked on the raw items before they are parsed. */
function checkBatchLimits(ctx: IngestContext, body: unknown): void {
  const batch = isPlainObject(body) ? body.batch : undefined;
  if (!Array.isArray(batch)) return;
  const { segmentMaxItems, segmentItemBytes } = ctx.limits;
  if (batch.length > segmentMaxItems) {
    throw new IngestError('too_many_events', `more than ${segmentMaxItems} items in one batch`);
  }
  const { batch: _items, ...envelope } = body as Record<string, unknown>;
  const shared = checkValueLimits(envelope);
  if (shared) throw limitError([limitProblem(shared, undefined)], false);
  const problems: SegmentProblem[] = [];
  let sizeOnly = true;
  batch.forEach((item, index) => {
    const found = checkValueLimits(item, { maxBytes: segmentItemBytes });
    if (!found) return;
    sizeOnly &&= found.limit === 'record_size';
    problems.push(limitProblem(found, index));
  });
  if (problems.length > 0) throw limitError(problems, sizeOnly);
}

export function registerSegmentRoutes(app: FastifyInstance, ctx: IngestContext): void {
  const config: IngestRouteConfig = { family: 'segment' };
  const { segmentCallBytes, segmentBatchBytes } = ctx.limits;
  const onRequest = (request: FastifyRequest, reply: FastifyReply) => authenticateHeader(ctx, request, reply);

  const single = (type: SegmentType) => (request: FastifyRequest, reply: FastifyReply) =>
    ingest(ctx, request, reply, segmentCallBytes, (body) => {
      checkCallLimits(body);
      return parseSegmentCall(body, type);
    });
  for (const type of SEGMENT_TYPES) {
    app.post(`/v1/${type}`, { bodyLimit: segmentCallBytes, config, onRequest }, single(type));
  }
  for (const [letter, type] of Object.entries(SEGMENT_PATH_LETTERS)) {
    app.post(`/v1/${letter}`, { bodyLimit: segmentCallBytes, config, onRequest }, single(type));
  }

  const batch = (request: FastifyRequest, reply: FastifyReply) =>
    ingest(ctx, request, reply, segmentBatchBytes, (body) => {
      checkBatchLimits(ctx, body);
      return parseSegmentBatch(body);
    });
  app.post('/v1/batch', { bodyLimit: segmentBatchBytes, config, onRequest }, batch);
  app.post('/v1/b', { bodyLimit: segmentBatchBytes, config, onRequest }, batch);
}
