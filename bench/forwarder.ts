/**
 * The baseline: a non-durable forwarder of the kind people hand-roll. It takes an Amplitude
 * HTTP V2 batch, maps each event to a Customer.io v2 `event` op, posts the batch straight on and
 * answers once Customer.io has. Nothing is stored, nothing is retried; it is what cio-sync's
 * durability and guarantees are measured against.
 *
 *   node bench/forwarder.ts --cio http://127.0.0.1:PORT [--port 0]
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { Pool } from 'undici';

const { values } = parseArgs({
  options: { cio: { type: 'string' }, port: { type: 'string', default: '0' } },
});
if (!values.cio) throw new Error('--cio is required');
const cio = new Pool(values.cio, { connections: 64, keepAliveTimeout: 60_000 });
const auth = `Basic ${Buffer.from('site:key').toString('base64')}`;

interface AmplitudeEvent {
  user_id?: string;
  event_type: string;
  insert_id?: string;
  time?: number;
  event_properties?: Record<string, unknown>;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: AmplitudeEvent[] };
      const batch = body.events.map((e) => ({
        type: 'person',
        action: 'event',
        identifiers: { id: e.user_id },
        name: e.event_type,
        id: e.insert_id,
        timestamp: Math.floor((e.time ?? Date.now()) / 1000),
        attributes: e.event_properties ?? {},
      }));
      for (;;) {
        const answer = await cio.request({
          path: '/api/v2/batch',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: auth },
          body: JSON.stringify({ batch }),
        });
        await answer.body.text();
        // Even a hand-rolled forwarder waits out a 429, or it would drop the batch.
        if (answer.statusCode !== 429) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ code: 200, events_ingested: batch.length }));
    })().catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(
    `forwarder listening at http://127.0.0.1:${(server.address() as { port: number }).port}\n`,
  );
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
