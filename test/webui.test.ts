/**
 * The Temporal Web UI as an operator sees it: a paused stream sync is found by its search attribute,
 * and its history shows the pause signal and each delivery's summary (the audit line). Runs headless
 * Chromium (Debian's `chromium`; scripts/setup.sh installs it on CI) through playwright-core against
 * a dev server of its own: the run's shared server is headless.
 *
 * It also takes the screenshots the README shows (the history; the user metadata): into
 * reports/webui*.png on every run, and into docs/ when CIO_SYNC_UPDATE_SCREENSHOT=1 (so an ordinary
 * run leaves the checkout clean).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client, Connection } from '@temporalio/client';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import type { LaneSummary } from '../src/workflows/activity-io.ts';
import { applyConfig, pauseSync, streamStatus } from '../src/control/syncs.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/store.ts';
import { freePort, startDevServer, type DevServer } from '../src/temporal/dev-server.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { DEFAULT_TASK_QUEUE as TASK_QUEUE } from '../src/settings.ts';
import { SyncIdAttribute, streamSyncWorkflowId } from '../src/workflows/sync-api.ts';
import { startFakeCustomerIo, type FakeCustomerIo } from './fakes/customerio/index.ts';
import { CREDENTIALS, WORKER_ENV, eventually, testConfig } from './helpers/engine.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CIO_SYNC_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Bound for every browser wait: the UI answers in well under a second here, 2 cores under load slower. */
const UI_TIMEOUT = 20_000;

function track(userId: string | undefined, event: string, time: number): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'amplitude',
    event_type: event,
    user_id: userId,
    insert_id: `${userId ?? 'anonymous'}-${event}-${time}`,
    time,
    event_properties: { plan: 'pro' },
    user_properties: {},
    context: {},
  };
}

/** The nearest scrolling ancestor is moved so `el` sits `margin` CSS pixels below its top edge. */
async function scrollToTop(el: Locator, margin: number): Promise<void> {
  // Runs in the page; the browser's globals are reached through the element (no DOM lib here).
  await el.evaluate((node, offset) => {
    const doc = node.ownerDocument;
    const view = doc.defaultView!;
    let box = node.parentElement;
    while (
      box &&
      !(box.scrollHeight > box.clientHeight && /auto|scroll/.test(view.getComputedStyle(box).overflowY))
    )
      box = box.parentElement;
    const scroller = box ?? doc.scrollingElement ?? doc.documentElement;
    const top = box ? scroller.getBoundingClientRect().top : 0;
    scroller.scrollTop += node.getBoundingClientRect().top - top - offset;
  }, margin);
}

describe.skipIf(!inject('temporalAddress'))('Temporal Web UI', () => {
  let server: DevServer | undefined;
  let worker: RunningWorker | undefined;
  let client: Client | undefined;
  let fake: FakeCustomerIo | undefined;
  let store: Store | undefined;
  let context: BrowserContext | undefined;
  const dirs: string[] = [];

  // The server is this file's own, so the sync can carry the example config's id (as in the picture).
  const syncId = 'web-to-cio';
  const workflowId = streamSyncWorkflowId(syncId);

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium, or ` +
          '`CIO_SYNC_INSTALL_DEPS=1 bash scripts/setup.sh`), or point CIO_SYNC_CHROMIUM at a Chromium binary.',
      );
    // A dev server with its Web UI; it registers the engine's search attributes like `make start`.
    server = await startDevServer({ uiPort: await freePort() });
    const dir = await mkdtemp(join(tmpdir(), 'cio-sync-webui-'));
    dirs.push(dir);
    store = await openSqliteStore(join(dir, 'store.db'));
    fake = await startFakeCustomerIo(CREDENTIALS);
    worker = await startWorker({
      temporalAddress: server.address,
      taskQueue: TASK_QUEUE,
      store,
      workflowBundlePath: inject('workflowBundlePath'),
      env: WORKER_ENV,
    });
    client = new Client({ connection: await Connection.connect({ address: server.address }) });

    const config = testConfig(
      fake,
      `
  - id: ${syncId}
    name: Web events to Customer.io
    type: stream
    source: web
    destination: cio
    events:
      properties: { event: '*' }
    delivery: { waitFor: 2s, lanes: 1 }
`,
    );
    await applyConfig(client, config, { taskQueue: TASK_QUEUE });

    // Two deliveries, so the history holds two audit lines: three events, then one event and one
    // record without a user id (filtered as no_identifier).
    const t = Date.UTC(2026, 10, 1, 12, 0, 0);
    await store.append('web', [
      track('user-1', 'Signed Up', t),
      track('user-2', 'Signed Up', t + 1000),
      track('user-3', 'Purchase', t + 2000),
    ]);
    await eventually(async () => (await streamStatus(client!, syncId)).cursor === 3);
    await store.append('web', [
      track('user-1', 'Purchase', t + 3000),
      track(undefined, 'Purchase', t + 4000),
    ]);
    await eventually(async () => (await streamStatus(client!, syncId)).cursor === 5);
    expect(fake.events).toHaveLength(4);

    await pauseSync(client, syncId);
    // Paused, and the delivery that was waiting when the signal came has handed back.
    await eventually(async () => {
      const status = await streamStatus(client!, syncId);
      return status.status === 'paused' && !status.delivering;
    });

    const profile = await mkdtemp(join(tmpdir(), 'cio-sync-chromium-'));
    dirs.push(profile);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      // The UI laid out at 1600×1020 and rendered at 0.8: a 1280×816 picture that fits the sync's
      // header, its event timeline and its compact history at once.
      viewport: { width: 1600, height: 1020 },
      deviceScaleFactor: 0.8,
      timeout: UI_TIMEOUT,
    });
    context.setDefaultTimeout(UI_TIMEOUT);
    // Hermetic: the UI may only talk to the dev server (no news feed, fonts or telemetry).
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => route.abort(),
    );
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
    await client?.workflow
      .getHandle(workflowId)
      .terminate('test finished')
      .catch(() => {});
    await client?.connection.close().catch(() => {});
    await worker?.shutdown().catch(() => {});
    await server?.stop();
    await fake?.close();
    await store?.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('lists the sync by its search attribute and shows the pause and the delivery audit lines', async () => {
    const page: Page = context!.pages()[0] ?? (await context!.newPage());

    // The list filter travels in the URL's `query` parameter, as the UI's own filter bar writes it.
    const query = `${SyncIdAttribute.name}="${syncId}"`;
    await page.goto(`${server!.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
    const link = page.getByRole('link', { name: workflowId, exact: true });
    await link.waitFor();
    expect(await page.getByRole('link', { name: /^stream-sync\// }).count()).toBe(1);

    await link.click();
    await page.waitForURL(`**/workflows/${encodeURIComponent(workflowId)}/**`);
    const rows = page.locator('tr[data-testid="event-summary-row"]');
    const signal = rows.filter({ hasText: 'Workflow Execution Signaled' });
    await signal.waitFor();
    expect(await signal.innerText()).toContain('pause');

    // Each delivery's result, expanded in full: the summaries deliverLane returned.
    const completed = rows.filter({ hasText: 'Activity Task Completed' });
    const count = await completed.count();
    expect(count).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < count; i++) await completed.nth(i).click();
    const results = page.locator('table .cm-content');
    await eventually(async () => (await results.count()) >= count, UI_TIMEOUT);
    const summaries = (await results.allInnerTexts()).map((text) => JSON.parse(text) as LaneSummary);
    expect(summaries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ outcome: 'delivered', records: 3, delivered: 3, status: 200, cursor: 3 }),
        expect.objectContaining({
          outcome: 'delivered',
          records: 2,
          delivered: 1,
          filtered: { no_identifier: 1 },
          status: 200,
          cursor: 5,
        }),
      ]),
    );
    // Readable at a glance: the sync's summary in the header, each activity's one-line summary in
    // the history (the audit log).
    const body = page.locator('body');
    await expect
      .poll(() => body.innerText(), { timeout: UI_TIMEOUT })
      .toContain(`stream sync ${syncId}: web → cio`);
    expect(await body.innerText()).toContain('deliver web records after #3 → Customer.io (cio)');
    // Only references reach the UI, never a key.
    expect(await page.locator('body').innerText()).not.toContain(CREDENTIALS.trackApiKey);

    // The picture: compact history (the pause, then one line per delivery), the input folded.
    await page.getByRole('button', { name: 'Compact' }).click();
    await rows.filter({ hasText: 'Signal received' }).waitFor();
    const input = page.getByRole('heading', { name: 'Input', exact: true }).locator('..');
    await input.locator('[title="Fold line"]:visible').first().click();
    // Just below the UI's fixed top bar (48 CSS px).
    await scrollToTop(page.getByRole('link', { name: 'Back to Workflows' }), 56);
    await page.mouse.move(0, 0);
    const shot = join(ROOT, 'reports/webui.png');
    await mkdir(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    if (process.env.CIO_SYNC_UPDATE_SCREENSHOT === '1') await copyFile(shot, join(ROOT, 'docs/webui.png'));

    // User metadata: the config it started with (static details) and its live state (current
    // details, kept up to date by the workflow).
    await page.getByText('User Metadata', { exact: true }).click();
    // The UI renders each Markdown field in a sandboxed frame of its own.
    const allText = async () => {
      const texts = await Promise.all(
        page.frames().map((f) =>
          f
            .locator('body')
            .innerText()
            .catch(() => ''),
        ),
      );
      return texts.join('\n');
    };
    await expect.poll(allText, { timeout: UI_TIMEOUT }).toContain('Started with this config');
    await expect.poll(allText, { timeout: UI_TIMEOUT }).toMatch(/cursor\s*5\s*of 5 \(lag 0\)/);
    const metadata = await allText();
    expect(metadata).toContain('name: Web events to Customer.io');
    expect(metadata).toMatch(/paused\s*·\s*web → cio/);
    expect(metadata).toMatch(/cursor\s*5\s*of 5 \(lag 0\)/);
    expect(metadata).toMatch(/delivered 4 · dead-lettered 0 · filtered no_identifier 1/);
    expect(metadata).not.toContain(CREDENTIALS.trackApiKey);
    await page.mouse.move(0, 0);
    const details = join(ROOT, 'reports/webui-details.png');
    await page.screenshot({ path: details });
    if (process.env.CIO_SYNC_UPDATE_SCREENSHOT === '1')
      await copyFile(details, join(ROOT, 'docs/webui-details.png'));
  }, 90_000);
});
