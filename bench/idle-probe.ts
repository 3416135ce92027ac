import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { parseConfig } from '../src/config/load.ts';
import { applyConfig } from '../src/control/syncs.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { startDevServer } from '../src/temporal/dev-server.ts';
import { startWorker } from '../src/worker.ts';
const dir = await mkdtemp(join(tmpdir(), 'idle-'));
const server = await startDevServer({ uiPort: false });
const store = await openSqliteStore(join(dir, 's.db'));
const syncs = Array.from(
  { length: 5 },
  (_, i) => `  - { id: idle-${i}, type: stream, source: many, destination: cio }`,
).join('\n');
const config = parseConfig(`
sources: [{ id: many, apiKey: "\${K:-k}" }]
destinations: [{ id: cio, siteId: "\${S:-s}", trackApiKey: "\${T:-t}", trackUrl: "http://127.0.0.1:9" }]
syncs:
${syncs}
`);
const worker = await startWorker({ temporalAddress: server.address, taskQueue: 'q', store, env: {} });
const client = new Client({ connection: await Connection.connect({ address: server.address }) });
await applyConfig(client, config, { taskQueue: 'q', env: {} });
await new Promise((r) => setTimeout(r, 20000));
for (let i = 0; i < 2; i++) {
  const h = client.workflow.getHandle(`stream-sync/idle-${i}`);
  const hist = await h.fetchHistory();
  const types: Record<string, number> = {};
  for (const e of hist.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (a) types[a] = (types[a] ?? 0) + 1;
    if (e.timerStartedEventAttributes) types.timer = (types.timer ?? 0) + 1;
  }
  console.log(i, hist.events?.length, JSON.stringify(types));
}
await worker.shutdown();
await server.stop();
process.exit(0);
