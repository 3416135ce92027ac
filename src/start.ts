import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client, Connection } from '@temporalio/client';
import pc from 'picocolors';

import { allowConfigFile } from './config/env-check.ts';
import { ConfigError, loadConfig } from './config/load.ts';
import { applyConfig } from './control/syncs.ts';
import { startDevServer } from './temporal/dev-server.ts';
import { loadSettings } from './settings.ts';
import { workerNodeArgs, workerProcessEnv } from './worker-tuning.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The source key `make start` uses when WEB_API_KEY is unset (development only). */
const DEV_WEB_API_KEY = 'dev-web-key';

/**
 * `make start`: the whole engine on its embedded defaults — a Temporal dev server (Web UI, search
 * attributes, state in .data/), the worker, the ingest server — then applies the example config.
 * The worker may resolve the variables, and use the hosts and cohort files, that config names
 * (config/env-check.ts). Ctrl-C stops everything it started.
 */
async function main(): Promise<void> {
  const settings = loadSettings();
  // Relative to the checkout, whatever directory make was called from.
  const dataDir = resolve(ROOT, settings.dataDir);
  const configFile = resolve(settings.configFile ?? resolve(ROOT, 'examples/cio-sync.yaml'));
  const { temporalPort: port, temporalUiPort: uiPort, ingestPort } = settings;
  await mkdir(dataDir, { recursive: true });
  const config = await loadConfig(configFile);
  // The worker started beside this file may use what it names: its variables, hosts, cohort files.
  const allowed = await allowConfigFile(configFile, config, process.env);
  for (const note of allowed.notes) log(note);

  log(`starting the Temporal dev server (state in ${dataDir}/temporal.db)`);
  const server = await startDevServer({ port, uiPort, dbFile: resolve(dataDir, 'temporal.db') });
  // The example config has no default key (a deployment that forgot it would accept anyone's
  // writes); for local development only, `make start` supplies a well-known one and says so.
  const devKey = settings.webApiKey ? undefined : DEV_WEB_API_KEY;
  if (devKey) {
    log(
      pc.yellow(
        `WEB_API_KEY is not set: ingest accepts the development key "${devKey}", which anyone can ` +
          'read in the README. Set WEB_API_KEY for anything but local development.',
      ),
    );
  }
  const env = {
    ...process.env,
    ...(devKey ? { WEB_API_KEY: devKey } : {}),
    TEMPORAL_ADDRESS: server.address,
    // The worker's and ingest's default store is then the same file, in this data directory.
    CIO_SYNC_DATA: dataDir,
    CIO_SYNC_CONFIG: configFile,
    CIO_SYNC_INGEST_PORT: String(ingestPort),
  };
  const children: ChildProcess[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log('stopping…');
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
        await once(child, 'exit');
        clearTimeout(timer);
      }),
    );
    await server.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  for (const [name, script, nodeArgs, childEnv] of [
    ['worker', 'src/worker.ts', workerNodeArgs(settings), workerProcessEnv({ ...env, ...allowed.settings })],
    ['ingest', 'src/ingest/server.ts', [], env],
  ] as const) {
    const child = spawn(process.execPath, [...nodeArgs, resolve(ROOT, script)], {
      env: childEnv,
      stdio: 'inherit',
    });
    child.on('exit', (code, signal) => {
      if (stopping) return;
      log(pc.red(`${name} exited (${signal ?? code}); stopping the rest`));
      void stop(1);
    });
    children.push(child);
  }

  const connection = await Connection.connect({ address: server.address });
  try {
    // `dryRun: auto` is decided here, in the environment the worker gets too.
    const steps = await applyConfig(new Client({ connection }), config, {
      taskQueue: settings.taskQueue,
      env,
    });
    for (const step of steps) log(`sync ${step.syncId}: ${step.actions.join(', ')}`);
  } finally {
    await connection.close();
  }

  const ingestUrl = `http://127.0.0.1:${ingestPort}`;
  process.stdout.write(
    [
      '',
      pc.bold('cio-sync is running'),
      `  ingest      ${ingestUrl}  (Amplitude: ${ingestUrl}/2/httpapi, Segment: ${ingestUrl}/v1/batch, health: ${ingestUrl}/health)`,
      `  Web UI      ${server.uiUrl}/namespaces/default/workflows`,
      `  Temporal    ${server.address}`,
      `  config      ${configFile}`,
      '',
      `  try:  curl -s ${ingestUrl}/2/httpapi -H 'content-type: application/json' \\`,
      `          -d '{"api_key":"${devKey ?? '<your WEB_API_KEY>'}","events":[{"user_id":"user-123","event_type":"Signed Up"}]}'`,
      `        ./cio-sync status web-to-cio`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

function log(message: string): void {
  process.stdout.write(`${pc.dim('[cio-sync]')} ${message}\n`);
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${pc.red('invalid config')}\n${err.message}\n`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
