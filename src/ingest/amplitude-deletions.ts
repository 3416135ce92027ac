import { createHash, timingSafeEqual } from 'node:crypto';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

import type { CanonicalRecord } from '../events/record.ts';
import { decodeBody, parseJson } from './body.ts';
import { commitRecords, type IngestContext, type IngestRouteConfig } from './context.ts';
import { countRejected } from './counters.ts';
import { IngestError, toIngestError } from './errors.ts';

/**
 * Amplitude's User Privacy API v1, `POST /api/2/deletions/users`: a GDPR/CCPA deletion request for up
 * to 100 users, as a JSON body or a form (`user_ids` and `amplitude_ids` repeated), authenticated with
 * HTTP Basic `api_key:secret_key` — here the source's `apiKey` and `secretKey`.
 *
 * Each user id becomes one `user_deletion` record in the source's log; stream syncs with
 * `users.deletions` send Customer.io a person delete for it, in log order with the user's other
 * records. The answer has the shape of Amplitude's (`day`, the ids with `requester` and
 * `requested_on_day`, `status`), with `status: "submitted"`: once stored, a deletion cannot be revoked
 * (Amplitude's own "submitted" stage).
 *
 * Amplitude IDs are Amplitude's internal numbers: nothing here maps them to a user id, so they cannot
 * be resolved to a Customer.io person. They are answered as such (`status: "unresolved"` with the
 * reason), never dropped silently; a request naming only Amplitude IDs is a 400 and stores nothing,
 * unless `ignore_invalid_ids` asks for the rest to go ahead (there is none here, so the 200 says so).
 */

export const DELETIONS_PATH = '/api/2/deletions/users';

/** Users per request, Amplitude IDs and user ids together ("up to 100 users can be specified at a time"). */
export const MAX_DELETION_USERS = 100;

/** As long an id as Amplitude's ingest accepts; a longer one could only be a different user truncated. */
const MAX_ID_LENGTH = 1024;

/** Answers of this API: Amplitude documents the success body only, so errors are `{ error }` with the status. */
interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export interface DeletionCredentials {
  sourceId: string;
  /** The source's resolved secret key; undefined when its config names none (no deletions accepted). */
  secretKey: string | undefined;
}

const Id = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const id = String(value);
  if (id.trim() === '') ctx.addIssue({ code: 'custom', message: 'an id must not be blank' });
  else if (id.length > MAX_ID_LENGTH)
    ctx.addIssue({ code: 'custom', message: `an id is over ${MAX_ID_LENGTH} characters` });
  return id;
});

/** A flag as JSON sends it (`true`) or a form does (`"true"`, `"True"`, `"1"`); anything else is false. */
const Flag = z
  .union([z.boolean(), z.string(), z.number()])
  .transform((value) => value === true || ['true', '1'].includes(String(value).toLowerCase()));

const DeletionRequest = z.object({
  user_ids: z.array(Id).default([]),
  amplitude_ids: z.array(Id).default([]),
  requester: z.string().max(MAX_ID_LENGTH).optional(),
  // Amplitude's spelling varies between its pages; both are read.
  ignore_invalid_id: Flag.optional(),
  ignore_invalid_ids: Flag.optional(),
  // Accepted for compatibility; one source is one project here, and nothing else is looked up.
  delete_from_org: Flag.optional(),
  include_mapped_user_ids: Flag.optional(),
});
type DeletionRequest = z.infer<typeof DeletionRequest>;

const LIST_FIELDS = new Set(['user_ids', 'amplitude_ids']);

/** A form body's fields: `user_ids`/`amplitude_ids` (also `user_ids[]`) repeat into lists, others take the first. */
function formFields(body: Buffer): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [rawKey, value] of new URLSearchParams(body.toString('utf8'))) {
    const key = rawKey.endsWith('[]') ? rawKey.slice(0, -2) : rawKey;
    if (LIST_FIELDS.has(key)) ((fields[key] ??= []) as string[]).push(value);
    else if (!(key in fields)) fields[key] = value;
  }
  return fields;
}

async function readRequest(ctx: IngestContext, request: FastifyRequest): Promise<DeletionRequest> {
  const body = await decodeBody(
    request.body,
    request.headers['content-encoding'],
    ctx.limits.amplitudeIdentifyBytes,
  );
  if (body.length === 0) throw new IngestError('missing_body', 'Missing request body');
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const raw = type === 'application/json' ? parseJson(body) : formFields(body);
  const parsed = DeletionRequest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new IngestError('invalid_body', `${where}${issue?.message ?? 'invalid deletion request'}`);
  }
  return parsed.data;
}

/** Which source a Basic `api_key:secret_key` pair opens, or why none. */
function authenticate(
  ctx: IngestContext,
  secrets: ReadonlyMap<string, string | undefined>,
  header: string | undefined,
): string {
  const match = /^Basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) {
    throw new IngestError(
      'missing_api_key',
      'Missing HTTP Basic credentials: send your API key and secret key',
    );
  }
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const apiKey = colon === -1 ? decoded : decoded.slice(0, colon);
  const secret = colon === -1 ? '' : decoded.slice(colon + 1);
  const sourceId = ctx.sourceByKey.get(apiKey);
  if (sourceId === undefined) throw new IngestError('invalid_api_key', 'Invalid API key or secret key');
  const expected = secrets.get(sourceId);
  if (expected === undefined) {
    throw new IngestError(
      'invalid_api_key',
      'This source accepts no deletion requests: its config names no secretKey',
    );
  }
  if (!sameSecret(secret, expected))
    throw new IngestError('invalid_api_key', 'Invalid API key or secret key');
  return sourceId;
}

/** Constant-time comparison (of digests, so unequal lengths take the same time too). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function statusOf(error: IngestError): number {
  switch (error.reason) {
    case 'missing_api_key':
    case 'invalid_api_key':
      return 401;
    case 'payload_too_large':
      return 413;
    case 'store_unavailable':
      return 503;
    case 'internal':
      return 500;
    default:
      return 400;
  }
}

function day(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/** What the request asks, as stored records and the answer (pure; `receivedAt` is the request's time). */
export function planDeletion(
  request: DeletionRequest,
  receivedAt: number,
): { records: CanonicalRecord[]; answer: Answer } {
  const today = day(receivedAt);
  const userIds = [...new Set(request.user_ids)];
  const amplitudeIds = [...new Set(request.amplitude_ids)];
  if (userIds.length + amplitudeIds.length === 0) {
    return {
      records: [],
      answer: { status: 400, body: { error: 'Request needs user_ids or amplitude_ids' } },
    };
  }
  if (userIds.length + amplitudeIds.length > MAX_DELETION_USERS) {
    return {
      records: [],
      answer: {
        status: 400,
        body: {
          error: `At most ${MAX_DELETION_USERS} users per request (user_ids and amplitude_ids together)`,
        },
      },
    };
  }
  const requester = request.requester ?? '';
  const unresolved = amplitudeIds.map((id) => ({
    amplitude_id: /^\d+$/.test(id) && Number.isSafeInteger(Number(id)) ? Number(id) : id,
    requester,
    requested_on_day: today,
    status: 'unresolved',
    reason: 'cio-sync knows users by user_id, not by Amplitude ID: nothing was deleted; send the user_ids',
  }));
  const ignoreInvalid = request.ignore_invalid_ids === true || request.ignore_invalid_id === true;
  if (userIds.length === 0 && !ignoreInvalid) {
    return {
      records: [],
      answer: {
        status: 400,
        body: {
          error:
            'amplitude_ids cannot be resolved to a Customer.io person (cio-sync knows users by user_id); nothing was stored',
          amplitude_ids: unresolved,
        },
      },
    };
  }
  const records = userIds.map((userId): CanonicalRecord => ({
    kind: 'user_deletion',
    origin: 'amplitude',
    user_id: userId,
    time: receivedAt,
    event_properties: request.requester === undefined ? {} : { requester: request.requester },
    user_properties: {},
    context: { api: 'user_privacy' },
  }));
  return {
    records,
    answer: {
      status: 200,
      body: {
        day: today,
        status: 'submitted',
        user_ids: userIds.map((userId) => ({ user_id: userId, requester, requested_on_day: today })),
        amplitude_ids: unresolved,
      },
    },
  };
}

function deletionRoute(ctx: IngestContext, secrets: ReadonlyMap<string, string | undefined>) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = ctx.now();
    let answer: Answer;
    try {
      const sourceId = authenticate(ctx, secrets, request.headers.authorization);
      const planned = planDeletion(await readRequest(ctx, request), receivedAt);
      if (planned.answer.status === 200) await commitRecords(ctx, sourceId, planned.records, 'amplitude');
      else countRejected(ctx, 'invalid_body');
      answer = planned.answer;
      request.log.info(
        { source: sourceId, users: planned.records.length, status: answer.status },
        'amplitude deletion request',
      );
    } catch (raw) {
      // Answered here rather than by the app's error handler: this API's statuses differ from the
      // HTTP V2 API's (401 for credentials, which the upload APIs answer 400).
      const error = toIngestError(raw);
      countRejected(ctx, error.reason);
      answer = { status: statusOf(error), body: { error: error.message } };
      if (answer.status >= 500) request.log.error({ err: error.cause ?? error }, 'deletion request failed');
      else request.log.info({ reason: error.reason, detail: error.message }, 'deletion request rejected');
      if (answer.status === 401) reply.header('www-authenticate', 'Basic realm="cio-sync"');
    }
    return reply.code(answer.status).send(answer.body);
  };
}

/** Registers the deletion route; `sources` give each source's secret key (resolved). */
export function registerAmplitudeDeletionRoutes(
  app: FastifyInstance,
  ctx: IngestContext,
  sources: ReadonlyArray<{ id: string; secretKey?: string }>,
): void {
  const secrets = new Map(sources.map((s) => [s.id, s.secretKey === '' ? undefined : s.secretKey]));
  const config: IngestRouteConfig = { family: 'amplitude' };
  const limit = ctx.limits.amplitudeIdentifyBytes;
  app.post(DELETIONS_PATH, { bodyLimit: limit, config }, deletionRoute(ctx, secrets));
}
