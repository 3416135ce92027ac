import { isPlainObject } from '../json-values.ts';
import { fromSegment, parseTime } from './normalize.ts';
import type { CanonicalRecord } from './record.ts';
import { parseSegmentCall, SEGMENT_TYPES, type SegmentProblem, type SegmentType } from './segment.ts';

/**
 * Messages as Segment's Webhooks destinations deliver them → CanonicalRecord. Pure.
 *
 * A delivered message is the Segment Spec call after Segment's own processing: it carries
 * `receivedAt`, the clock-corrected `timestamp` and, as `originalTimestamp`, the time the client
 * gave. So the event time is `timestamp` as it stands (correcting it again against our receive time
 * would move it by the webhook's delay), and the client time, which with `messageId` fixes the
 * Customer.io event id, is `originalTimestamp`: what the tracking API route sees as `timestamp` for
 * the same call. Everything else maps exactly as on the tracking API.
 *
 * The classic destination also documents a `delete` message (`{type: "delete", userId}`, a
 * deletion request from Segment's privacy tools): it becomes a `user_deletion` record, as an
 * Amplitude User Privacy API request does.
 */

export type SegmentWebhookParse =
  { ok: true; record: CanonicalRecord } | { ok: false; problems: SegmentProblem[] };

function withIndex(problems: SegmentProblem[], index: number | undefined): SegmentProblem[] {
  return index === undefined ? problems : problems.map((problem) => ({ ...problem, index }));
}

function deletionRecord(
  message: Record<string, unknown>,
  receivedAt: number,
  index: number | undefined,
): SegmentWebhookParse {
  const userId = message.userId;
  if ((typeof userId !== 'string' || userId === '') && typeof userId !== 'number') {
    return { ok: false, problems: withIndex([{ field: 'userId', message: 'userId is required' }], index) };
  }
  const record: CanonicalRecord = {
    kind: 'user_deletion',
    origin: 'segment',
    user_id: String(userId),
    time: parseTime(message.timestamp) ?? receivedAt,
    event_properties: { requester: 'segment' },
    user_properties: {},
    context: { api: 'segment_webhook' },
  };
  if (typeof message.messageId === 'string' && message.messageId !== '') record.insert_id = message.messageId;
  return { ok: true, record };
}

/** One delivered message; `index` names it in problems when it came in an array. */
export function parseSegmentWebhookMessage(
  message: unknown,
  receivedAt: number,
  index?: number,
): SegmentWebhookParse {
  if (!isPlainObject(message)) {
    return { ok: false, problems: withIndex([{ field: 'body', message: 'expected a JSON object' }], index) };
  }
  const type = message.type;
  if (type === 'delete') return deletionRecord(message, receivedAt, index);
  if (typeof type !== 'string' || !(SEGMENT_TYPES as readonly string[]).includes(type)) {
    const problem = {
      field: 'type',
      message: `type must be one of ${[...SEGMENT_TYPES, 'delete'].join(', ')}`,
    };
    return { ok: false, problems: withIndex([problem], index) };
  }
  const parsed = parseSegmentCall(message, type as SegmentType);
  if (!parsed.ok) return { ok: false, problems: withIndex(parsed.problems, index) };
  const call = parsed.calls[0]!;
  const time = parseTime(call.timestamp) ?? parseTime(call.originalTimestamp) ?? receivedAt;
  const clientTime = parseTime(call.originalTimestamp) ?? parseTime(call.timestamp);
  return { ok: true, record: fromSegment(call, receivedAt, { time, clientTime }) };
}
