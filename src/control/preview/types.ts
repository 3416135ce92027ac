import type { CanonicalRecord } from '../../events/record.ts';

/** The report `cio-sync preview` prints: what each sync would send for a file of sample calls. */

export type InputShape = 'amplitude' | 'segment-batch' | 'segment-call';

/** One request body of the input file. */
export interface InputBody {
  /** `file:line` of the body (its first line for a file that is one JSON document). */
  ref: string;
  shape: InputShape;
  body: Record<string, unknown>;
}

/** Why ingest refuses a call: its reason (as in ingest's 4xx answers) and message. */
export interface Rejection {
  reason: string;
  message: string;
}

/** One call (an Amplitude event or a Segment call) of the input and what ingest made of it. */
export interface PreviewCall {
  /** `file:line`, plus `events[i]` / `batch[i]` for an item of a multi-call body. */
  ref: string;
  api: 'amplitude' | 'segment';
  /** Stored: the source's log and the seq it would get. */
  sourceId?: string;
  seq?: number;
  record?: CanonicalRecord;
  /** Not stored: ingest answers the request with an error and keeps none of it. */
  rejected?: Rejection;
}

export interface PreviewRequest {
  method: 'POST';
  /** The delivery lane that sends it (records are split by person; see src/mapping/lanes.ts). */
  lane: number;
  /** Full URL when the host is known from the config; the path alone for `region: auto`. */
  url: string;
  body: { batch: object[] };
  bytes: number;
  /** The records whose operations it carries. */
  seqs: number[];
}

/** What became of one stored record in one sync, and which lane handled it. */
export type RecordOutcome = { seq: number; ref: string; lane: number } & (
  | { outcome: 'sent'; request: number; operations: number; deadLetters: Letter[] }
  | { outcome: 'filtered'; reason: string }
  | { outcome: 'dead_letter'; deadLetters: Letter[] }
);

export interface Letter {
  reason: string;
  detail?: string;
}

export interface SyncPreview {
  syncId: string;
  type: 'stream' | 'cohort';
  source?: string;
  destination: string;
  /** Delivery lanes (stream syncs; 1 for a cohort sync). */
  lanes: number;
  /** Why the sync would behave differently from the requests shown, or why none are shown. */
  notes: string[];
  requests: PreviewRequest[];
  records: RecordOutcome[];
  summary: { records: number; sent: number; filtered: Record<string, number>; deadLettered: number };
}

export interface PreviewReport {
  calls: PreviewCall[];
  syncs: SyncPreview[];
}

export interface PreviewOptions {
  /** The receive time given to every call (the time of an event that carries none). */
  now: number;
  /** Where source keys are resolved, as ingest resolves them. */
  env?: NodeJS.ProcessEnv;
  /** Store every call in this source's log, whatever key it carries (or lacks). */
  sourceId?: string;
}
