import { describe, expect, it } from 'vitest';

import { parseSegmentBatch, parseSegmentCall } from '../../../src/events/segment.ts';

describe('parseSegmentCall', () => {
  it.each([
    ['track without event', 'track', { userId: 'u1' }, [{ field: 'event', message: 'event is required' }]],
    [
      'no userId or anonymousId',
      'track',
      { event: 'E', userId: '' },
      [{ field: 'userId', message: 'userId or anonymousId is required' }],
    ],
    [
      'group without groupId',
      'group',
      { userId: 'u1' },
      [{ field: 'groupId', message: 'groupId is required' }],
    ],
    [
      'alias without previousId',
      'alias',
      { userId: 'u1' },
      [{ field: 'previousId', message: 'previousId is required' }],
    ],
    [
      'timestamp without zone',
      'identify',
      { userId: 'u1', timestamp: '2026-01-01T10:00:00' },
      [{ field: 'timestamp', message: 'Invalid ISO datetime' }],
    ],
    [
      'messageId of 101 characters',
      'page',
      { userId: 'u1', messageId: 'm'.repeat(101) },
      [{ field: 'messageId', message: 'Too big: expected string to have <=100 characters' }],
    ],
    ['not an object', 'track', ['x'], [{ field: 'body', message: 'expected a JSON object' }]],
  ] as const)('%s → problems', (_name, type, body, problems) => {
    expect(parseSegmentCall(body, type)).toEqual({ ok: false, problems });
  });

  it('takes the type from the path and keeps unknown keys', () => {
    const result = parseSegmentCall(
      { type: 'identify', userId: 42, event: 'E', _metadata: { x: 1 } },
      'track',
    );
    expect(result).toEqual({
      ok: true,
      calls: [{ type: 'track', userId: '42', event: 'E', _metadata: { x: 1 } }],
    });
  });

  it('accepts anonymousId alone and offsets in timestamps', () => {
    const call = { anonymousId: 'anon-1', traits: { a: 1 }, timestamp: '2026-01-01T10:00:00.000+02:00' };
    expect(parseSegmentCall(call, 'identify')).toEqual({ ok: true, calls: [{ ...call, type: 'identify' }] });
  });
});

describe('parseSegmentBatch', () => {
  it('merges top-level context, integrations and sentAt into every item; the item wins', () => {
    const body = {
      writeKey: 'wk',
      sentAt: '2026-01-01T00:00:10.000Z',
      context: { ip: '1.2.3.4', library: { name: 'x' } },
      integrations: { All: true },
      batch: [
        { type: 'track', event: 'A', userId: 'u1', context: { ip: '5.6.7.8' } },
        {
          type: 'screen',
          name: 'Home',
          anonymousId: 'a1',
          sentAt: '2026-01-01T00:00:11.000Z',
          integrations: { All: false },
        },
      ],
    };
    expect(parseSegmentBatch(body)).toEqual({
      ok: true,
      calls: [
        {
          type: 'track',
          event: 'A',
          userId: 'u1',
          context: { ip: '5.6.7.8', library: { name: 'x' } },
          integrations: { All: true },
          sentAt: '2026-01-01T00:00:10.000Z',
        },
        {
          type: 'screen',
          name: 'Home',
          anonymousId: 'a1',
          context: { ip: '1.2.3.4', library: { name: 'x' } },
          integrations: { All: false },
          sentAt: '2026-01-01T00:00:11.000Z',
        },
      ],
    });
  });

  it('names every bad item by index', () => {
    const body = {
      batch: [
        { type: 'track', event: 'ok', userId: 'u1' },
        { type: 'track', event: 'no identity' },
        { type: 'bogus', userId: 'u1' },
        'string',
        { type: 'group', userId: 'u1', groupId: 'g1', context: 'not an object' },
      ],
      context: { ip: '1.2.3.4' },
    };
    expect(parseSegmentBatch(body)).toEqual({
      ok: false,
      problems: [
        { index: 1, field: 'userId', message: 'userId or anonymousId is required' },
        {
          index: 2,
          field: 'type',
          message: 'type must be one of track, identify, page, screen, group, alias',
        },
        { index: 3, field: 'item', message: 'expected a JSON object' },
        { index: 4, field: 'context', message: 'Invalid input: expected record, received string' },
      ],
    });
  });

  it('needs a batch array', () => {
    expect(parseSegmentBatch({ writeKey: 'wk' })).toEqual({
      ok: false,
      problems: [{ field: 'batch', message: 'batch is required' }],
    });
  });
});
