import { createHmac } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  firstArrayElement,
  secretMatches,
  segmentSignatureMatches,
} from '../../../src/ingest/webhook-auth.ts';

const SECRET = 'segment-shared-secret';
const sign = (text: string, secret = SECRET) => createHmac('sha1', secret).update(text).digest('hex');

describe('secretMatches', () => {
  it('accepts the exact secret only', () => {
    expect(secretMatches('s3cret', 's3cret')).toBe(true);
    expect(secretMatches('s3cret ', 's3cret')).toBe(false);
    expect(secretMatches('S3cret', 's3cret')).toBe(false);
    expect(secretMatches(undefined, 's3cret')).toBe(false);
    expect(secretMatches(['s3cret', 's3cret'], 's3cret')).toBe(false);
    expect(secretMatches('', 's3cret')).toBe(false);
  });
});

describe('firstArrayElement', () => {
  it('finds the first element whatever it holds', () => {
    const cases: Array<[string, string | undefined]> = [
      ['[{"a":1},{"b":2}]', '{"a":1}'],
      ['[{"a":"],}\\"["},2]', '{"a":"],}\\"["}'],
      ['[[1,[2]],3]', '[1,[2]]'],
      ['  [ {"a":1} , 2 ]', '{"a":1}'],
      ['["x,y"]', '"x,y"'],
      ['[17]', '17'],
      ['[]', undefined],
      ['[{"a":1}', '{"a":1}'],
      ['[17', undefined],
      ['{"a":1}', undefined],
    ];
    for (const [body, first] of cases) {
      expect(firstArrayElement(Buffer.from(body))?.toString(), body).toBe(first);
    }
  });
});

describe('segmentSignatureMatches', () => {
  const message = { type: 'track', event: 'Signed Up', userId: 'u-1', messageId: 'm-1' };

  it('checks a single message over the exact bytes received', () => {
    const body = JSON.stringify(message);
    expect(segmentSignatureMatches(Buffer.from(body), sign(body), SECRET)).toBe(true);
    expect(segmentSignatureMatches(Buffer.from(body), sign(body).toUpperCase(), SECRET)).toBe(true);
    // The same JSON with other whitespace is other bytes: not what Segment signed.
    const spaced = JSON.stringify(message, null, 1);
    expect(segmentSignatureMatches(Buffer.from(spaced), sign(body), SECRET)).toBe(false);
    expect(segmentSignatureMatches(Buffer.from(body), sign(body, 'other'), SECRET)).toBe(false);
  });

  it('checks a batch by its first payload, as Segment signs it', () => {
    const batch = [message, { ...message, messageId: 'm-2' }];
    const body = Buffer.from(JSON.stringify(batch));
    expect(segmentSignatureMatches(body, sign(JSON.stringify(batch[0])), SECRET)).toBe(true);
    expect(segmentSignatureMatches(body, sign(body.toString()), SECRET)).toBe(false);
  });

  it('refuses a missing, short or non-hex signature', () => {
    const body = Buffer.from(JSON.stringify(message));
    for (const bad of [undefined, '', 'abc', 'z'.repeat(40), sign('x').slice(0, 39)]) {
      expect(segmentSignatureMatches(body, bad, SECRET)).toBe(false);
    }
  });
});
