/**
 * An Amplitude export for benchmarks, in its own process: `--events` realistic export-format rows
 * (test/fakes/amplitude-export-format.ts, every column, a unique `$insert_id`, `--users` users,
 * event times spread over each upload hour) in `--hours` upload hours from `--from`, served by the
 * fake Export API of test/fakes/amplitude-export.ts; with `--zip <path>`, also written first as
 * the zip the Export API would send for the whole range (stored members of gzipped NDJSON,
 * `<app>/<app>_<YYYY-MM-DD>_<H>#<n>.json.gz`, 1,000 rows each, as the fake cuts them).
 *
 *   node bench/amplitude-export.ts [--events 1000000] [--hours 24] [--from 2026-01-01T00]
 *     [--users 10000] [--api-key K] [--secret-key S] [--zip path]
 *
 * Prints `fake export listening at <url>` once it serves. Keep in mind the fake builds an answer's
 * gzipped members when it is asked (as Amplitude prepares an export before its first byte).
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import yazl from 'yazl';

import { exportHourToMs, parseHourInput, type ExportHour } from '../src/backfill/export-hours.ts';
import { DEFAULT_APP, exportEvent } from '../test/fakes/amplitude-export-format.ts';
import { memberName, startFakeAmplitudeExport } from '../test/fakes/amplitude-export.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    hours: { type: 'string', default: '24' },
    from: { type: 'string', default: '2026-01-01T00' },
    users: { type: 'string', default: '10000' },
    'api-key': { type: 'string', default: 'amp-api-key' },
    'secret-key': { type: 'string', default: 'amp-secret-key' },
    zip: { type: 'string' },
  },
});
const EVENTS = Number(values.events);
const HOURS = Number(values.hours);
const USERS = Number(values.users);
const FROM = parseHourInput(values.from);
/** Rows in one member file: the fake's default, or more for at most 500 members (see above). */
const PARTITION_ROWS = Math.max(1000, Math.ceil(EVENTS / 500));
const log = (line: string) => process.stdout.write(`[export] ${line}\n`);

const KINDS = [
  { event_type: 'Page Viewed', event_properties: { path: '/pricing', referrer: 'https://www.google.com/' } },
  { event_type: 'Product Viewed', event_properties: { sku: 'SKU-1234', price: 49.5, category: 'shoes' } },
  { event_type: 'Added To Cart', event_properties: { sku: 'SKU-1234', quantity: 2, price: 49.5 } },
  { event_type: 'Order Completed', event_properties: { order_id: 'o-1', total: 99, currency: 'USD' } },
  { event_type: '$identify', event_properties: {} },
];
const PLATFORMS = [
  {
    platform: 'Web',
    os_name: 'Chrome',
    os_version: '126',
    device_type: 'Mac',
    library: 'amplitude-ts/2.11.0',
  },
  {
    platform: 'iOS',
    os_name: 'ios',
    os_version: '17.5',
    device_type: 'iPhone 15',
    library: 'amplitude-swift/1.9.0',
  },
];

/** Row `i` of the export, uploaded in hour `hour`, `offsetMs` into it. */
function line(i: number, hour: ExportHour, offsetMs: number): string {
  const kind = KINDS[i % KINDS.length]!;
  const user = i % USERS;
  return JSON.stringify(
    exportEvent({
      ...kind,
      ...PLATFORMS[user % PLATFORMS.length]!,
      $insert_id: `bf-${i}`,
      user_id: `user-${user}`,
      client_event_time: exportHourToMs(hour) + offsetMs,
      session_id: exportHourToMs(hour) + (user % 60) * 60_000,
      country: 'United States',
      city: 'San Francisco',
      language: 'English',
      ip_address: '203.0.113.7',
      user_properties: { plan: user % 3 === 0 ? 'pro' : 'free', signup_week: `2025-W${(user % 52) + 1}` },
    }),
  );
}

const started = performance.now();
const hours = new Map<ExportHour, string[]>();
for (let h = 0, i = 0; h < HOURS; h++) {
  const count = Math.floor(EVENTS / HOURS) + (h < EVENTS % HOURS ? 1 : 0);
  // Uploaded within the hour: the event a second before its upload (exportEvent's defaults).
  const step = (3_600_000 - 5_000) / Math.max(1, count);
  const rows: string[] = [];
  for (let j = 0; j < count; j++, i++) rows.push(line(i, FROM + h, Math.floor(j * step)));
  hours.set(FROM + h, rows);
}
log(`${EVENTS} rows in ${HOURS} upload hours generated in ${Math.round(performance.now() - started)} ms`);

if (values.zip) {
  const zipStarted = performance.now();
  const zip = new yazl.ZipFile();
  const out = createWriteStream(values.zip);
  const written = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    out.on('error', reject);
  });
  zip.outputStream.pipe(out);
  let bytes = 0;
  for (const [hour, rows] of hours) {
    for (let start = 0, n = 0; start < rows.length; start += PARTITION_ROWS, n++) {
      const gz = gzipSync(`${rows.slice(start, start + PARTITION_ROWS).join('\n')}\n`);
      bytes += gz.length;
      zip.addBuffer(gz, memberName(DEFAULT_APP, hour, n), { compress: false });
    }
  }
  zip.end();
  await written;
  log(
    `zip of ${bytes} gzipped bytes written to ${values.zip} in ${Math.round(performance.now() - zipStarted)} ms`,
  );
}

const fake = await startFakeAmplitudeExport({
  projects: [{ apiKey: values['api-key'], secretKey: values['secret-key'], events: hours }],
  partitionRows: PARTITION_ROWS,
});
log(`fake export listening at ${fake.url}`);
process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
