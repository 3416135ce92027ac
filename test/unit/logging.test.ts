import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { createLogger, temporalLevelOf, temporalLogger } from '../../src/logging.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, destination };
}

describe('logging', () => {
  it('forwards Temporal SDK logs as JSON at the matching level, errors serialized, secrets redacted', () => {
    const { lines, destination } = capture();
    const logger = temporalLogger(createLogger({ level: 'debug', destination }));
    logger.warn('Activity failed', {
      error: new Error('Customer.io HTTP 503'),
      request: { headers: { Authorization: 'Basic c2l0ZTprZXk=' } },
      destination: { trackApiKey: 'literal-key' },
    });
    logger.trace('dropped below debug');
    logger.log('DEBUG', 'kept');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 40,
      msg: 'Activity failed',
      error: { type: 'Error', message: 'Customer.io HTTP 503' },
      request: { headers: { Authorization: '[redacted]' } },
      destination: { trackApiKey: '[redacted]' },
    });
    expect(lines[1]).toMatchObject({ level: 20, msg: 'kept' });
  });

  it("maps pino's levels onto Core's", () => {
    expect(temporalLevelOf('warn')).toBe('WARN');
    expect(temporalLevelOf('silent')).toBe('ERROR');
  });
});
