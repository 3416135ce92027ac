import { ApplicationFailure } from '@temporalio/common';

import type { Destination } from '../config/schema.ts';
import { isAuthFailure, type CioOutcome } from '../customerio/classify.ts';
import type { CustomerIoClient } from '../customerio/client.ts';
import type { CanonicalRecord } from '../events/record.ts';
import type { NewDeadLetter, Store } from '../store/store.ts';

/** Failure types the workflow's retry policy and the Web UI show; stable strings. */
export const FAILURE_TYPES = {
  rateLimited: 'CustomerIoRateLimited',
  unavailable: 'CustomerIoUnavailable',
} as const;

export interface PlannedOp {
  seq: number;
  op: object;
}

export interface SendResult {
  /** `rejected_credentials`: 401/403; nothing was applied and the caller must not advance. */
  kind: 'sent' | 'credentials_rejected';
  status?: number;
  durationMs?: number;
  /** Records whose every operation Customer.io accepted. */
  deliveredSeqs: Set<number>;
  deadLetters: NewDeadLetter[];
  error?: string;
}

/**
 * Sends planned operations in one `/api/v2/batch` request under the destination's shared rate
 * limit and turns Customer.io's answer into delivered records and dead letters. Retryable answers
 * (429, 5xx, timeouts, network) throw a retryable ApplicationFailure carrying Retry-After as
 * nextRetryDelay, so Temporal retries the whole delivery and nothing is skipped.
 */
export async function sendPlanned(args: {
  store: Store;
  client: CustomerIoClient;
  destination: Destination;
  syncId: string;
  ops: PlannedOp[];
  records: Map<number, CanonicalRecord>;
  signal?: AbortSignal;
}): Promise<SendResult> {
  const { store, client, destination, syncId, ops, records } = args;
  const wait = await store.reserveRateSlot(`track:${destination.id}`, destination.requestsPerSecond);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));

  const { outcome, durationMs } = await client.batch(ops.map((o) => o.op));
  const allSeqs = new Set(ops.map((o) => o.seq));
  const letter = (seq: number, reason: string, detail?: string): NewDeadLetter => ({
    syncId,
    seq,
    record: records.get(seq) as CanonicalRecord,
    reason,
    detail,
  });

  switch (outcome.kind) {
    case 'ok':
      return { kind: 'sent', status: outcome.status, durationMs, deliveredSeqs: allSeqs, deadLetters: [] };
    case 'item_errors': {
      const failed = new Map<number, string>();
      for (const e of outcome.errors) {
        const seq = ops[e.batch_index]?.seq;
        if (seq === undefined) continue;
        const detail = [e.reason, e.field && `field ${e.field}`, e.message].filter(Boolean).join(': ');
        failed.set(seq, failed.has(seq) ? `${failed.get(seq)}; ${detail}` : detail);
      }
      const delivered = new Set([...allSeqs].filter((s) => !failed.has(s)));
      return {
        kind: 'sent',
        status: outcome.status,
        durationMs,
        deliveredSeqs: delivered,
        deadLetters: [...failed].map(([seq, detail]) => letter(seq, 'customerio_rejected_item', detail)),
        error: failed.size ? `Customer.io rejected ${failed.size} item(s)` : undefined,
      };
    }
    case 'rate_limited':
    case 'retryable':
      throw ApplicationFailure.create({
        type: outcome.kind === 'rate_limited' ? FAILURE_TYPES.rateLimited : FAILURE_TYPES.unavailable,
        message: `Customer.io ${describe(outcome)}`,
        nextRetryDelay: outcome.retryAfterMs,
        details: [{ status: outcome.status, durationMs }],
      });
    case 'permanent':
      if (isAuthFailure(outcome)) {
        return {
          kind: 'credentials_rejected',
          status: outcome.status,
          durationMs,
          deliveredSeqs: new Set(),
          deadLetters: [],
          error: `Customer.io rejected the credentials of destination ${destination.id} (HTTP ${outcome.status})`,
        };
      }
      // The whole request was refused (e.g. 400 malformed): keep every record to redrive after a fix.
      return {
        kind: 'sent',
        status: outcome.status,
        durationMs,
        deliveredSeqs: new Set(),
        deadLetters: [...allSeqs].map((seq) => letter(seq, 'customerio_rejected_batch', outcome.message)),
        error: `Customer.io refused the batch: ${outcome.message}`,
      };
  }
}

function describe(outcome: CioOutcome): string {
  if (outcome.kind === 'ok' || outcome.kind === 'item_errors') return `HTTP ${outcome.status}`;
  return `${outcome.status ? `HTTP ${outcome.status}: ` : ''}${outcome.message}`;
}
