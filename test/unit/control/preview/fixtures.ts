import { parseConfig } from '../../../../src/config/load.ts';

/** Fixtures of preview's unit tests (src/control/preview.test.ts, src/control/preview/*.test.ts). */

export const NOW = Date.parse('2025-12-01T12:30:00.000Z');
// The source keys the configs below reference (secret fields take no `:-default`).
export const ENV = { WEB_KEY: 'web-key', APP_KEY: 'app-key', K: 'k' };

/** A config as a user writes it, through the real loader. */
export function config(syncs = '', extraSources = '') {
  return parseConfig(
    `sources:
  - id: web
    apiKey: \${WEB_KEY}
${extraSources}
destinations:
  - id: cio
    siteId: site
    trackApiKey: \${TRACK_KEY:-}
syncs:
  - id: web-to-cio
    type: stream
    source: web
    destination: cio
    events:
      filter:
        requireUserId: true
    users:
      send: true
      properties: [email, plan]
    # One lane: every request in log order (the lane split has its own test).
    delivery:
      lanes: 1
${syncs}`,
    'cio.yaml',
  );
}

export const line = (value: unknown) => JSON.stringify(value);

/** One stream sync s1 of source web to destination cio, with these `delivery` settings. */
export function oneStreamSync(delivery: string) {
  return parseConfig(
    `sources:
  - { id: web, apiKey: '\${K}' }
destinations:
  - { id: cio, siteId: s, trackApiKey: '\${T:-}' }
syncs:
  - { id: s1, type: stream, source: web, destination: cio, delivery: { ${delivery} } }
`,
    'cio.yaml',
  );
}
