import type { Config } from '../config/schema.ts';
import { tryResolveEnv } from '../config/env.ts';
import { ingestBodies } from './preview/ingest.ts';
import { PreviewInputError } from './preview/input.ts';
import { previewStream } from './preview/stream.ts';
import type { InputBody, PreviewOptions, PreviewReport, SyncPreview } from './preview/types.ts';

/**
 * `cio-sync preview`: what each stream sync of a config would send to Customer.io for a file of
 * sample calls, and why any call would not be sent. Pure — no Temporal, store or network — and built
 * from the code the engine runs: ingest's request checks and normalization
 * (src/ingest/request-checks.ts; preview/ingest.ts), then the delivery's lane walk
 * (src/mapping/lane-walk.ts) and planBatch over the records as the log would hold them (seqs 1..n
 * per source), one delivery after another from cursor 0 (preview/stream.ts).
 *
 * Two assumptions stand in for the world outside: Customer.io accepts every operation (so a user's
 * later identify is diffed against what the earlier one sent), and no user is known to the sync
 * before the file (no stored snapshots).
 */

export { formatPreview } from './preview/format.ts';
export { parsePreviewInput, PreviewInputError } from './preview/input.ts';
export type * from './preview/types.ts';

export function previewCalls(
  config: Config,
  bodies: readonly InputBody[],
  options: PreviewOptions,
): PreviewReport {
  const env = options.env ?? process.env;
  if (options.sourceId !== undefined && !config.sources.some((s) => s.id === options.sourceId)) {
    throw new PreviewInputError(
      `--source ${options.sourceId}: no such source (sources: ${config.sources.map((s) => s.id).join(', ') || 'none'})`,
    );
  }
  const sourceByKey = new Map<string, string>();
  for (const source of config.sources) {
    const key = tryResolveEnv(source.apiKey, env);
    if (key) sourceByKey.set(key, source.id);
  }
  const { calls, logs } = ingestBodies(config, bodies, options.now, sourceByKey, options.sourceId);

  const refOf = new Map<string, string>();
  for (const call of calls) if (call.seq !== undefined) refOf.set(`${call.sourceId}/${call.seq}`, call.ref);
  const syncs = config.syncs.map((sync): SyncPreview => {
    if (sync.type !== 'stream') {
      return {
        syncId: sync.id,
        type: 'cohort',
        destination: sync.destination,
        lanes: 1,
        notes: ['cohort syncs send cohort members from their own source, not calls: nothing to preview'],
        requests: [],
        records: [],
        summary: { records: 0, sent: 0, filtered: {}, deadLettered: 0 },
      };
    }
    const destination = config.destinations.find((d) => d.id === sync.destination)!;
    const log = logs.get(sync.source) ?? [];
    return previewStream(sync, destination, log, (seq) => refOf.get(`${sync.source}/${seq}`) ?? `seq ${seq}`);
  });
  return { calls, syncs };
}
