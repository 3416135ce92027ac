import type { Destination } from '../config/schema.ts';
import type { CustomerIoClient } from '../customerio/client.ts';
import type { CanonicalRecord } from '../events/record.ts';
import type { NewDeadLetter, Store } from '../store/store.ts';
import { sendToCustomerIo, type Hold, type SendSlot } from './customerio-send.ts';

export interface PlannedOp {
  seq: number;
  op: object;
}

export type SendResult =
  | {
      kind: 'sent';
      status: number;
      durationMs: number;
      /** Records whose every operation Customer.io accepted. */
      deliveredSeqs: Set<number>;
      deadLetters: NewDeadLetter[];
      error?: string;
    }
  /** Nothing was applied and the caller must not advance. */
  | ({ kind: 'hold'; durationMs: number } & Hold);

/**
 * Sends planned operations in one `/api/v2/batch` request through the send boundary and turns
 * Customer.io's answer into delivered records and dead letters (item errors, or a whole request the
 * data made Customer.io refuse). Retries are thrown by the boundary; holds come back as results.
 */
export async function sendPlanned(args: {
  store: Store;
  client: CustomerIoClient;
  destination: Destination;
  syncId: string;
  ops: PlannedOp[];
  records: Map<number, CanonicalRecord>;
  /** A slot the caller took already (takeSendSlot); the send answers it. */
  slot?: SendSlot;
}): Promise<SendResult> {
  const { store, client, destination, syncId, ops, records } = args;
  const sent = await sendToCustomerIo(
    store,
    destination,
    'track',
    () => client.batch(ops.map((o) => o.op)),
    args.slot && { slot: args.slot },
  );
  const allSeqs = new Set(ops.map((o) => o.seq));
  const letter = (seq: number, reason: string, detail?: string): NewDeadLetter => ({
    syncId,
    seq,
    record: records.get(seq) as CanonicalRecord,
    reason,
    detail,
  });

  switch (sent.kind) {
    case 'hold':
      return sent;
    case 'done': {
      const failed = new Map<number, string>();
      for (const e of sent.itemErrors) {
        const seq = ops[e.batch_index]?.seq;
        if (seq === undefined) continue;
        const detail = [e.reason, e.field && `field ${e.field}`, e.message].filter(Boolean).join(': ');
        failed.set(seq, failed.has(seq) ? `${failed.get(seq)}; ${detail}` : detail);
      }
      return {
        kind: 'sent',
        status: sent.status,
        durationMs: sent.durationMs,
        deliveredSeqs: new Set([...allSeqs].filter((s) => !failed.has(s))),
        deadLetters: [...failed].map(([seq, detail]) => letter(seq, 'customerio_rejected_item', detail)),
        ...(failed.size > 0 && { error: `Customer.io rejected ${failed.size} item(s)` }),
      };
    }
    case 'dead_letter':
      // The data made Customer.io refuse the whole request (400/413/422): keep every record to
      // redrive after a fix.
      return {
        kind: 'sent',
        status: sent.status,
        durationMs: sent.durationMs,
        deliveredSeqs: new Set(),
        deadLetters: [...allSeqs].map((seq) => letter(seq, 'customerio_rejected_batch', sent.message)),
        error: `Customer.io refused the batch (HTTP ${sent.status}): ${sent.message}`,
      };
  }
}
