/**
 * The Markdown a sync's workflow starts with as its `staticDetails`, shown by the Temporal Web UI
 * under the workflow's summary: what the sync is and the config it was started with. The spec holds
 * only `${ENV_VAR}` references for secrets (the config schema refuses literals), so printing it
 * whole shows no key.
 */
import { stringify } from 'yaml';

import type { CohortSyncSpec, StreamSyncSpec } from '../config/schema.ts';

export function staticDetailsOf(spec: StreamSyncSpec | CohortSyncSpec): string {
  const { sync, destination } = spec;
  const from = sync.type === 'stream' ? `source \`${sync.source}\`` : `cohort from ${sync.cohort.from}`;
  return [
    `**${sync.name ?? sync.id}** — ${sync.type} sync from ${from} to Customer.io destination ` +
      `\`${destination.id}\` (region ${destination.region}).`,
    '',
    'Started with this config (secrets are `${ENV_VAR}` references, resolved by the worker):',
    '',
    '```yaml',
    stringify({ sync, destination }, { lineWidth: 0 }).trimEnd(),
    '```',
  ].join('\n');
}
