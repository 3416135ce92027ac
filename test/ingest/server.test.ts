import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startIngest } from '../../src/ingest/server.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';

const SERVER = fileURLToPath(new URL('../../src/ingest/server.ts', import.meta.url));
const CONFIG = `
sources:
  - id: web
    apiKey: \${TEST_WEB_KEY}
  - id: app
    apiKey: \${TEST_APP_KEY}
`;

let dir: string;
let configPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cio-sync-ingest-server-'));
  configPath = join(dir, 'cio-sync.yaml');
  await writeFile(configPath, CONFIG);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const track = (key: string) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ api_key: key, events: [{ event_type: 'Started', user_id: 'user-1', time: 1 }] }),
});

async function storedEventTypes(storePath: string, sourceId: string) {
  const store = await openSqliteStore(storePath);
  try {
    return (await store.readAfter(sourceId, 0, 100)).map((r) => r.record.event_type);
  } finally {
    await store.close();
  }
}

describe('startIngest', () => {
  it('refuses to start while a source key variable is unset or empty, naming the variable only', async () => {
    const storePath = join(dir, 'refused.db');
    for (const env of [
      { TEST_WEB_KEY: 'in-process-web-key' },
      { TEST_WEB_KEY: 'in-process-web-key', TEST_APP_KEY: '' },
    ]) {
      await expect(
        startIngest({ configPath, storeUrl: `sqlite:${storePath}`, port: 0, env }),
      ).rejects.toMatchObject({
        name: 'MissingSourceKeyError',
        variable: 'TEST_APP_KEY',
        message:
          'source "app": environment variable TEST_APP_KEY is not set; ingest does not start ' +
          "without every source's key (set it, or remove the source from the config)",
      });
    }
  });

  it('serves every source once each key is set, and never logs a key', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const storePath = join(dir, 'in-process.db');
    const running = await startIngest({
      configPath,
      storeUrl: `sqlite:${storePath}`,
      port: 0,
      env: { TEST_WEB_KEY: 'in-process-web-key', TEST_APP_KEY: 'in-process-app-key' },
      logger: { level: 'info', stream },
    });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(running.sources).toEqual(['web', 'app']);
      const response = await fetch(`${running.url}/2/httpapi`, track('in-process-web-key'));
      expect(await response.json()).toMatchObject({ code: 200, events_ingested: 1 });
    } finally {
      await running.close();
    }
    const log = lines.map((line) => JSON.parse(line) as { msg: string });
    expect(log.map((l) => l.msg)).toEqual(expect.arrayContaining([`ingest listening at ${running.url}`]));
    expect(lines.join('')).not.toContain('in-process-web-key');
    expect(await storedEventTypes(storePath, 'web')).toEqual(['Started']);
  });
});

describe('node src/ingest/server.ts', () => {
  it('listens, logs its URL as JSON, and exits cleanly on SIGTERM', async () => {
    const storePath = join(dir, 'process.db');
    const child = spawn(process.execPath, [SERVER, '--config', configPath], {
      env: {
        PATH: process.env.PATH,
        TEST_WEB_KEY: 'process-web-key',
        TEST_APP_KEY: 'process-app-key',
        CIO_SYNC_STORE: `sqlite:${storePath}`,
        CIO_SYNC_INGEST_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const exited = once(child, 'exit');
    try {
      let url: string | undefined;
      for await (const line of createInterface({ input: child.stdout })) {
        const match = /ingest listening at (http:\/\/\S+)/.exec((JSON.parse(line) as { msg: string }).msg);
        if (match) {
          url = match[1];
          break;
        }
      }
      expect(url, stderr).toBeDefined();
      const response = await fetch(`${url}/2/httpapi`, track('process-app-key'));
      expect(await response.json()).toMatchObject({ code: 200, events_ingested: 1 });
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code, stderr).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(await storedEventTypes(storePath, 'app')).toEqual(['Started']);
  });
});
