import { describe, expect, it } from 'vitest';

import { createMetricsRegistry, renderMetrics, WorkerMetrics } from '../../src/metrics.ts';

describe('WorkerMetrics', () => {
  it('counts deletes and suppressions by sync and kind', async () => {
    const metrics = new WorkerMetrics(createMetricsRegistry({ processMetrics: false }));
    const counts = { delivered: 3, filtered: { suppressed: 2 }, deadLettered: {} };
    metrics.onRecords('s', { ...counts, deletions: { person_delete: 1, person_suppress: 1 } });
    metrics.onRecords('s', { ...counts, deletions: { person_delete: 2 } });
    metrics.onRecords('s', counts);
    const lines = (await renderMetrics(metrics.registry)).body.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'cio_sync_deletions_total{sync="s",kind="person_delete"} 3',
        'cio_sync_deletions_total{sync="s",kind="person_suppress"} 1',
        'cio_sync_records_filtered_total{sync="s",reason="suppressed"} 6',
      ]),
    );
  });
});
