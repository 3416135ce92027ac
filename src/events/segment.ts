import { z } from 'zod';

import { isPlainObject } from '../json-values.ts';

/**
 * Segment's tracking API calls (the Segment Spec) and the batch envelope. Pure: no I/O, no clock.
 * Unknown keys are tolerated (`_metadata`, `version`, `channel`, `options`, …); what the canonical
 * record needs is typed.
 */

export const SEGMENT_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type SegmentType = (typeof SEGMENT_TYPES)[number];

/** analytics.js posts each call to `/v1/<first letter of type>`. */
export const SEGMENT_PATH_LETTERS: Readonly<Record<string, SegmentType>> = {
  t: 'track',
  i: 'identify',
  p: 'page',
  s: 'screen',
  g: 'group',
  a: 'alias',
};

/** Segment documents `messageId` as "under 100 characters". */
export const MAX_MESSAGE_ID_LENGTH = 100;

const Properties = z.record(z.string(), z.unknown());

/** Ids may arrive as numbers from some clients; they are kept as their decimal string. */
const Id = z
  .union([z.string(), z.number().finite()])
  .transform((v) => (typeof v === 'number' ? String(v) : v));

const IsoTime = z.iso.datetime({ offset: true });

const common = {
  userId: Id.nullish(),
  anonymousId: Id.nullish(),
  messageId: z.string().min(1).max(MAX_MESSAGE_ID_LENGTH).nullish(),
  timestamp: IsoTime.nullish(),
  originalTimestamp: IsoTime.nullish(),
  sentAt: IsoTime.nullish(),
  context: Properties.nullish(),
  integrations: Properties.nullish(),
};

export const SegmentTrack = z.looseObject({
  ...common,
  type: z.literal('track'),
  event: z.string().min(1),
  properties: Properties.nullish(),
});

export const SegmentIdentify = z.looseObject({
  ...common,
  type: z.literal('identify'),
  traits: Properties.nullish(),
});

export const SegmentPage = z.looseObject({
  ...common,
  type: z.literal('page'),
  name: z.string().nullish(),
  category: z.string().nullish(),
  properties: Properties.nullish(),
});

export const SegmentScreen = z.looseObject({
  ...common,
  type: z.literal('screen'),
  name: z.string().nullish(),
  category: z.string().nullish(),
  properties: Properties.nullish(),
});

export const SegmentGroup = z.looseObject({
  ...common,
  type: z.literal('group'),
  groupId: Id.refine((v) => v !== '', 'groupId is empty'),
  traits: Properties.nullish(),
});

export const SegmentAlias = z.looseObject({
  ...common,
  type: z.literal('alias'),
  previousId: Id.refine((v) => v !== '', 'previousId is empty'),
});

export const SegmentCallSchema = z
  .discriminatedUnion('type', [
    SegmentTrack,
    SegmentIdentify,
    SegmentPage,
    SegmentScreen,
    SegmentGroup,
    SegmentAlias,
  ])
  .superRefine((call, ctx) => {
    if (!call.userId && !call.anonymousId) {
      ctx.addIssue({ code: 'custom', path: ['userId'], message: 'userId or anonymousId is required' });
    }
  });
export type SegmentCall = z.infer<typeof SegmentCallSchema>;

/** `POST /v1/batch` (and analytics.js `/v1/b`). Items are checked one by one, to name the bad ones. */
export const SegmentBatchSchema = z.looseObject({
  batch: z.array(z.unknown()),
  writeKey: z.string().nullish(),
  context: Properties.nullish(),
  integrations: Properties.nullish(),
  sentAt: IsoTime.nullish(),
});

export interface SegmentProblem {
  /** The batch item, when the request was a batch. */
  index?: number;
  field: string;
  message: string;
}

export type SegmentParse = { ok: true; calls: SegmentCall[] } | { ok: false; problems: SegmentProblem[] };

function problemsOf(error: z.ZodError, input: Record<string, unknown>, index?: number): SegmentProblem[] {
  return error.issues.map((issue) => {
    const field = issue.path.map(String).join('.') || 'body';
    let message = issue.message;
    if (issue.code === 'invalid_union' && field === 'type') {
      message = `type must be one of ${SEGMENT_TYPES.join(', ')}`;
    } else if (issue.path.length === 1 && issue.code !== 'custom' && input[field] == null) {
      message = `${field} is required`;
    }
    return index === undefined ? { field, message } : { index, field, message };
  });
}

/**
 * One call of `/v1/<type>` or a one-letter path. The path names the type; a `type` in the body is
 * overridden by it, as the path is what Segment routes on.
 */
export function parseSegmentCall(body: unknown, type: SegmentType): SegmentParse {
  if (!isPlainObject(body)) {
    return { ok: false, problems: [{ field: 'body', message: 'expected a JSON object' }] };
  }
  const call = { ...body, type };
  const parsed = SegmentCallSchema.safeParse(call);
  return parsed.success
    ? { ok: true, calls: [parsed.data] }
    : { ok: false, problems: problemsOf(parsed.error, call) };
}

/**
 * A batch: the top-level `context` and `integrations` are merged into every item (an item's own
 * keys win) and the envelope's `sentAt` applies to items that carry none (analytics.js strips it
 * from batched items). Returns every bad item, not only the first.
 */
export function parseSegmentBatch(body: unknown): SegmentParse {
  const envelope = SegmentBatchSchema.safeParse(body);
  if (!envelope.success) {
    return { ok: false, problems: problemsOf(envelope.error, isPlainObject(body) ? body : {}) };
  }
  const { batch, context, integrations, sentAt } = envelope.data;
  const calls: SegmentCall[] = [];
  const problems: SegmentProblem[] = [];
  batch.forEach((item, index) => {
    if (!isPlainObject(item)) {
      problems.push({ index, field: 'item', message: 'expected a JSON object' });
      return;
    }
    const merged: Record<string, unknown> = { ...item };
    if (context) merged.context = mergeInto(context, item.context);
    if (integrations) merged.integrations = mergeInto(integrations, item.integrations);
    if (sentAt && (item.sentAt === undefined || item.sentAt === null)) merged.sentAt = sentAt;
    const parsed = SegmentCallSchema.safeParse(merged);
    if (parsed.success) calls.push(parsed.data);
    else problems.push(...problemsOf(parsed.error, merged, index));
  });
  return problems.length === 0 ? { ok: true, calls } : { ok: false, problems };
}

/** An item's own object wins key by key; a value of the wrong type is left alone so validation names it. */
function mergeInto(shared: Record<string, unknown>, own: unknown): unknown {
  if (own === undefined || own === null) return { ...shared };
  return isPlainObject(own) ? { ...shared, ...own } : own;
}
