import { describe, expect, it } from 'vitest';

import { formatPreview, parsePreviewInput, previewCalls } from '../../../../src/control/preview.ts';
import { config, ENV, line, NOW } from './fixtures.ts';

describe('formatPreview', () => {
  it('prints each request with its JSON body, then every record and call with its fate', () => {
    const text = [
      line({
        type: 'track',
        userId: 'user-1',
        event: 'A',
        messageId: 'm1',
        timestamp: '2025-12-01T12:00:00.000Z',
      }),
      line({ type: 'track', anonymousId: 'anon-1', event: 'B' }),
      line({ type: 'track', event: 'C' }),
    ].join('\n');
    const report = previewCalls(config(), parsePreviewInput(text, 'in'), { now: NOW, env: ENV });
    const id = (report.syncs[0]!.requests[0]!.body.batch[0] as { id: string }).id;
    expect(formatPreview(report)).toBe(
      [
        '3 call(s): 2 stored, 1 rejected at ingest',
        '',
        'web-to-cio (stream: web → cio)',
        `  request 1: POST https://track.customer.io/api/v2/batch (1 operation(s) from 1 record(s), ${report.syncs[0]!.requests[0]!.bytes} bytes)`,
        '    {',
        '      "batch": [',
        '        {',
        '          "type": "person",',
        '          "action": "event",',
        '          "identifiers": {',
        '            "id": "user-1"',
        '          },',
        '          "name": "A",',
        `          "id": "${id}",`,
        '          "timestamp": 1764590400,',
        '          "attributes": {}',
        '        }',
        '      ]',
        '    }',
        '  seq 1  in:1  sent in request 1 (1 operation(s))',
        '  seq 2  in:2  filtered: no_user_id',
        '  1 request(s): 1 record(s) sent, 1 filtered (no_user_id 1), 0 dead-lettered',
        '',
        'rejected at ingest (answered with an error and never stored, so no sync sees them):',
        '  in:3  invalid_events: userId: userId or anonymousId is required',
      ].join('\n'),
    );
  });
});
