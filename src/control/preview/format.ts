import type { Letter, PreviewReport, RecordOutcome } from './types.ts';

/** The report for a terminal: per sync its requests (JSON bodies in full), then each record's fate. */
export function formatPreview(report: PreviewReport): string {
  const lines: string[] = [];
  const stored = report.calls.filter((c) => c.seq !== undefined);
  const rejected = report.calls.filter((c) => c.rejected !== undefined);
  lines.push(
    `${report.calls.length} call(s): ${stored.length} stored, ${rejected.length} rejected at ingest`,
  );
  for (const sync of report.syncs) {
    lines.push('');
    lines.push(
      sync.type === 'stream'
        ? `${sync.syncId} (stream: ${sync.source} → ${sync.destination})`
        : `${sync.syncId} (cohort → ${sync.destination})`,
    );
    for (const note of sync.notes) lines.push(`  note: ${note}`);
    sync.requests.forEach((request, i) => {
      const lane = sync.lanes > 1 ? ` (lane ${request.lane})` : '';
      lines.push(
        `  request ${i + 1}${lane}: ${request.method} ${request.url} (${request.body.batch.length} operation(s) from ${request.seqs.length} record(s), ${request.bytes} bytes)`,
      );
      for (const line of JSON.stringify(request.body, null, 2).split('\n')) lines.push(`    ${line}`);
    });
    for (const record of sync.records)
      lines.push(`  seq ${record.seq}  ${record.ref}  ${describeOutcome(record)}`);
    if (sync.type === 'stream') {
      const { sent, filtered, deadLettered } = sync.summary;
      const reasons = Object.entries(filtered).map(([reason, n]) => `${reason} ${n}`);
      const total = Object.values(filtered).reduce((a, b) => a + b, 0);
      lines.push(
        `  ${sync.requests.length} request(s): ${sent} record(s) sent, ${total} filtered${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}, ${deadLettered} dead-lettered`,
      );
    }
  }
  if (rejected.length > 0) {
    lines.push('');
    lines.push('rejected at ingest (answered with an error and never stored, so no sync sees them):');
    for (const call of rejected)
      lines.push(`  ${call.ref}  ${call.rejected!.reason}: ${call.rejected!.message}`);
  }
  return lines.join('\n');
}

function describeOutcome(record: RecordOutcome): string {
  const letters = (list: readonly Letter[]) =>
    list.map((l) => (l.detail === undefined ? l.reason : `${l.reason} (${l.detail})`)).join('; ');
  switch (record.outcome) {
    case 'sent':
      return `sent in request ${record.request} (${record.operations} operation(s))${record.deadLetters.length > 0 ? `; dead-lettered in part: ${letters(record.deadLetters)}` : ''}`;
    case 'filtered':
      return `filtered: ${record.reason}`;
    case 'dead_letter':
      return `dead-lettered: ${letters(record.deadLetters)}`;
  }
}
