import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { exportRowProblem, fromAmplitudeExport } from '../events/amplitude-export.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { checkRecordLimits, checkValueLimits } from '../events/record-limits.ts';
import type { SegmentProblem } from '../events/segment.ts';
import { parseSegmentWebhookMessage } from '../events/segment-webhook.ts';
import { isPlainObject } from '../json-values.ts';
import type { IngestApi } from '../metrics.ts';
import { decodeBody, parseJson } from './body.ts';
import { commitRecords, type IngestContext, type IngestRouteConfig } from './context.ts';
import { IngestError } from './errors.ts';
import { secretMatches, segmentSignatureMatches } from './webhook-auth.ts';

/**
 * Receivers for the platforms' own webhook destinations, one route per source:
 * `POST /webhooks/amplitude/<source>` (Amplitude's Webhook streaming destination, export event format,
 * events and "Send Users" updates) and `POST /webhooks/segment/<source>` (Segment's Webhooks, one
 * message, and Webhooks (Actions), one payload or a batch array).
 *
 * Authentication comes first: Amplitude's header is checked before the body is read, Segment's
 * signature as soon as the body is decoded, before any JSON is parsed. Both platforms retry a 5xx (so
 * a store that is down loses nothing); Segment drops a 4xx and Amplitude gives up after ten tries in
 * four hours. So a request is never retried for ever over one bad record: its valid records are
 * committed and the bad ones refused (400, naming them); and because a retry brings the same records
 * again, records whose insert id the log already holds are acknowledged without a second append.
 */

/** What reading a request's items gave: records to commit, and the refused items. */
interface ReadItems {
  records: CanonicalRecord[];
  problems: SegmentProblem[];
}

function webhookOf(ctx: IngestContext, request: FastifyRequest) {
  const { sourceId } = request.params as { sourceId: string };
  return { sourceId, webhooks: ctx.webhooks.get(sourceId) };
}

function notConfigured(platform: string, sourceId: string): IngestError {
  return new IngestError(
    'not_found',
    `source "${sourceId}" has no ${platform} webhook (set sources[].webhooks.${platform} in the config)`,
  );
}

/** Amplitude: the configured header, checked before a byte of the body is read. */
async function authenticateAmplitude(ctx: IngestContext, request: FastifyRequest, reply: FastifyReply) {
  const { sourceId, webhooks } = webhookOf(ctx, request);
  const amplitude = webhooks?.amplitude;
  if (!amplitude) throw notConfigured('amplitude', sourceId);
  if (!secretMatches(request.headers[amplitude.header], amplitude.secret)) {
    reply.header('connection', 'close');
    const missing = request.headers[amplitude.header] === undefined;
    throw new IngestError(
      missing ? 'missing_api_key' : 'invalid_api_key',
      `${missing ? 'missing' : 'wrong'} ${amplitude.header} header`,
    );
  }
}

/** Segment: a request without a signature is refused before its body is read. */
async function requireSignature(ctx: IngestContext, request: FastifyRequest, reply: FastifyReply) {
  const { sourceId, webhooks } = webhookOf(ctx, request);
  if (!webhooks?.segment) throw notConfigured('segment', sourceId);
  if (request.headers['x-signature'] === undefined) {
    reply.header('connection', 'close');
    throw new IngestError('missing_api_key', 'missing X-Signature header: set the shared secret in Segment');
  }
}

async function decodeRequest(ctx: IngestContext, request: FastifyRequest, verify?: (raw: Buffer) => void) {
  return ctx.decodes.run(
    async () => {
      const raw = await decodeBody(
        request.body,
        request.headers['content-encoding'],
        ctx.limits.webhookBytes,
      );
      if (raw.length === 0) throw new IngestError('missing_body', 'Missing request body');
      verify?.(raw);
      return { json: parseJson(raw), bytes: raw.length };
    },
    { body: request.body, encoding: request.headers['content-encoding'] },
  );
}

/** A body's items: an array, an object holding `events` (an export-style list), or one object. */
function itemsOf(body: unknown, maxItems: number): { items: unknown[]; batch: boolean } {
  let items: unknown[] | undefined;
  if (Array.isArray(body)) items = body;
  else if (isPlainObject(body) && Array.isArray(body.events) && body.event_type === undefined)
    items = body.events;
  if (items === undefined) return { items: [body], batch: false };
  if (items.length > maxItems) {
    throw new IngestError('too_many_events', `more than ${maxItems} items in one request`);
  }
  return { items, batch: true };
}

function problemAt(index: number | undefined, field: string, message: string): SegmentProblem {
  return index === undefined ? { field, message } : { index, field, message };
}

/** Each item against the record limits (raw, then normalized) and its own format, kept or refused. */
/**
 * What a JSON body of `bytes` bytes can hold at most once parsed and written again: a number can
 * come back longer (`1e20` is 21 characters written out), nothing else can, so six times its size.
 */
function jsonSizeBound(bytes: number): number {
  return bytes * 6 + 512;
}

function readItems(
  items: readonly unknown[],
  batch: boolean,
  toRecord: (item: unknown, index: number | undefined) => CanonicalRecord | SegmentProblem[],
  limits: { maxItemBytes: number; bodyBytes: number },
): ReadItems {
  const read: ReadItems = { records: [], problems: [] };
  // A small body is under every size limit: its items are not written out again to be measured.
  const bound = jsonSizeBound(limits.bodyBytes);
  const itemLimits = bound <= limits.maxItemBytes ? {} : { maxBytes: limits.maxItemBytes };
  items.forEach((item, position) => {
    const index = batch ? position : undefined;
    const raw = checkValueLimits(item, itemLimits);
    if (raw) return void read.problems.push(problemAt(index, raw.path || 'item', raw.detail));
    const record = toRecord(item, index);
    if (Array.isArray(record)) return void read.problems.push(...record);
    const found = checkRecordLimits(record, bound);
    if (found) return void read.problems.push(problemAt(index, found.path || 'item', found.detail));
    read.records.push(record);
  });
  return read;
}

async function commitAndAnswer(
  ctx: IngestContext,
  reply: FastifyReply,
  sourceId: string,
  api: IngestApi,
  read: ReadItems,
) {
  if (read.records.length === 0 && read.problems.length > 0) throw refused(read.problems);
  const { appended, duplicates } = await commitRecords(ctx, sourceId, read.records, api);
  const counts = { accepted: appended, duplicates };
  if (read.problems.length > 0) {
    const { reason, message } = refused(read.problems);
    return reply.code(400).send({ success: false, reason, error: message, ...counts, errors: read.problems });
  }
  return reply.send({ success: true, ...counts });
}

function refused(problems: SegmentProblem[]): IngestError {
  const first = problems[0]!;
  const where = first.index === undefined ? '' : `item ${first.index}: `;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new IngestError('invalid_events', `${where}${first.field}: ${first.message}${more}`, { problems });
}

function amplitudeRecord(receivedAt: number) {
  return (item: unknown, index: number | undefined): CanonicalRecord | SegmentProblem[] => {
    if (!isPlainObject(item)) return [problemAt(index, 'item', 'expected a JSON object')];
    const problem = exportRowProblem(item);
    if (problem) return [problemAt(index, problem.field, problem.message)];
    return fromAmplitudeExport(item, { receivedAt });
  };
}

function amplitudeRoute(ctx: IngestContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = ctx.now();
    const { sourceId } = webhookOf(ctx, request);
    const { json, bytes } = await decodeRequest(ctx, request);
    const { items, batch } = itemsOf(json, ctx.limits.webhookMaxItems);
    const limits = { maxItemBytes: ctx.limits.webhookItemBytes, bodyBytes: bytes };
    const read = readItems(items, batch, amplitudeRecord(receivedAt), limits);
    return commitAndAnswer(ctx, reply, sourceId, 'amplitude_webhook', read);
  };
}

function segmentRoute(ctx: IngestContext) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = ctx.now();
    const { sourceId, webhooks } = webhookOf(ctx, request);
    const secret = webhooks!.segment!.secret;
    const { json, bytes } = await decodeRequest(ctx, request, (raw) => {
      if (!segmentSignatureMatches(raw, request.headers['x-signature'], secret)) {
        throw new IngestError('invalid_api_key', 'X-Signature does not match the shared secret');
      }
    });
    const { items, batch } = itemsOf(json, ctx.limits.webhookMaxItems);
    const toRecord = (item: unknown, index: number | undefined) => {
      const parsed = parseSegmentWebhookMessage(item, receivedAt, index);
      return parsed.ok ? parsed.record : parsed.problems;
    };
    const read = readItems(items, batch, toRecord, {
      maxItemBytes: ctx.limits.segmentItemBytes,
      bodyBytes: bytes,
    });
    return commitAndAnswer(ctx, reply, sourceId, 'segment_webhook', read);
  };
}

export function registerWebhookRoutes(app: FastifyInstance, ctx: IngestContext): void {
  const bodyLimit = ctx.limits.webhookBytes;
  const amplitude: IngestRouteConfig = { family: 'amplitude-webhook' };
  const segment: IngestRouteConfig = { family: 'segment-webhook' };
  app.post(
    '/webhooks/amplitude/:sourceId',
    {
      bodyLimit,
      config: amplitude,
      onRequest: (request, reply) => authenticateAmplitude(ctx, request, reply),
    },
    amplitudeRoute(ctx),
  );
  app.post(
    '/webhooks/segment/:sourceId',
    { bodyLimit, config: segment, onRequest: (request, reply) => requireSignature(ctx, request, reply) },
    segmentRoute(ctx),
  );
}
