/**
 * PostgreSQL for tests. A vitest run starts one server (test/global-setup.ts, through
 * startPostgresServer) and every test that asks for PostgreSQL gets a database of its own on it
 * (startTestPostgres), cloned from a template: an empty one, or one the store's migrations have
 * already run on. Outside vitest (the benchmarks) startTestPostgres starts a throwaway server.
 *
 * A throwaway server: initdb into a temp dir, `postgres` on a free loopback port with its unix
 * socket in the same dir, trust auth, no fsync. Debian's `postgresql` package provides the binaries
 * (scripts/setup.sh installs it on CI). PostgreSQL refuses to run as root, so when the tests do, it
 * runs as the `postgres` system user through `runuser`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

export interface TestPostgres {
  /**
   * `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth: no password): `postgres` on a
   * throwaway server, a database of the test's own on the run's shared server.
   */
  connectionString: string;
  port: number;
  /** The server's directory (its data and unix socket). */
  dir: string;
  /** A throwaway server: stops it and deletes its files. A database on the shared one: drops it. */
  stop(): Promise<void>;
}

/** The template databases the run's shared server holds (test/global-setup.ts creates them). */
export const EMPTY_TEMPLATE = 'cio_sync_empty';
export const MIGRATED_TEMPLATE = 'cio_sync_migrated';

export interface TestDatabaseOptions {
  /** Clone the template the store's migrations have run on (a store opens it without migrating). */
  migrated?: boolean;
}

/** The shared server's admin URL when vitest's global setup provides one; '' otherwise. */
async function sharedServer(): Promise<{ url: string; dir: string }> {
  if (!process.env.VITEST) return { url: '', dir: '' };
  const { inject } = await import('vitest');
  return { url: inject('postgresUrl') ?? '', dir: inject('postgresDir') ?? '' };
}

let databases = 0;

/**
 * PostgreSQL for a test: under vitest a new database on the run's shared server, cloned from a
 * template (in milliseconds, where initdb and a server start take seconds); elsewhere a throwaway
 * server of its own.
 */
export async function startTestPostgres(options: TestDatabaseOptions = {}): Promise<TestPostgres> {
  const shared = await sharedServer();
  if (!shared.url) return startPostgresServer();
  return createTestDatabase(shared.url, shared.dir, options);
}

/** A new database on a running server, cloned from one of its templates; stop() drops it. */
export async function createTestDatabase(
  adminUrl: string,
  dir: string,
  options: TestDatabaseOptions = {},
): Promise<TestPostgres> {
  const name = `test_${process.pid}_${Date.now().toString(36)}_${++databases}`;
  const template = options.migrated ? MIGRATED_TEMPLATE : EMPTY_TEMPLATE;
  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    connectionString: url.href,
    port: Number(url.port),
    dir,
    async stop() {
      await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function withAdmin<T>(adminUrl: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/**
 * Creates the shared server's two templates: an empty database, and one `migrate` has run on
 * (given its URL). Neither is left with a connection, as cloning needs.
 */
export async function createTemplates(
  adminUrl: string,
  migrate: (url: string) => Promise<void>,
): Promise<void> {
  await withAdmin(adminUrl, async (admin) => {
    for (const name of [EMPTY_TEMPLATE, MIGRATED_TEMPLATE]) {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`);
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${MIGRATED_TEMPLATE}`;
  await migrate(url.href);
  await withAdmin(adminUrl, (admin) =>
    admin.query(`UPDATE pg_database SET datistemplate = true WHERE datname IN ($1, $2)`, [
      EMPTY_TEMPLATE,
      MIGRATED_TEMPLATE,
    ]),
  );
}

const INSTALL_HINT =
  'PostgreSQL server binaries (initdb, postgres) were not found. Install them: ' +
  '`apt-get install -y postgresql` (Debian/Ubuntu), or run `CIO_SYNC_INSTALL_DEPS=1 bash scripts/setup.sh`; ' +
  'or point CIO_SYNC_PG_BIN at a directory holding initdb and postgres.';

/** The directory holding initdb and postgres: CIO_SYNC_PG_BIN, Debian's newest, or PATH. */
export function findPostgresBin(): string {
  const candidates: string[] = [];
  if (process.env.CIO_SYNC_PG_BIN) candidates.push(process.env.CIO_SYNC_PG_BIN);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(debian, v, 'bin')));
  }
  candidates.push(...(process.env.PATH ?? '').split(':').filter(Boolean));
  const found = candidates.find(
    (dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')),
  );
  if (found === undefined) throw new Error(INSTALL_HINT);
  return found;
}

interface RunAs {
  /** Wraps a command so it runs as the server's user. */
  wrap(command: string, args: string[]): [string, string[]];
  uid: number | undefined;
  gid: number | undefined;
}

function runAs(): RunAs {
  if (process.getuid?.() !== 0) return { wrap: (c, a) => [c, a], uid: undefined, gid: undefined };
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (id.status !== 0 || gid.status !== 0) {
    throw new Error(
      'tests run as root and PostgreSQL refuses to: a `postgres` system user is needed to run it ' +
        '(Debian`s postgresql package creates one; or `useradd --system postgres`)',
    );
  }
  return {
    wrap: (command, args) => ['runuser', ['-u', 'postgres', '--', command, ...args]],
    uid: Number(id.stdout.trim()),
    gid: Number(gid.stdout.trim()),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A throwaway server of its own (the run's shared one, and the benchmarks'). */
export async function startPostgresServer(): Promise<TestPostgres> {
  const bin = findPostgresBin();
  const user = runAs();
  // Not under a root-only home directory: the server's user must be able to reach it.
  const dir = await mkdtemp(join(tmpdir(), 'cio-sync-pg-'));
  await chmod(dir, 0o700);
  if (user.uid !== undefined && user.gid !== undefined) await chown(dir, user.uid, user.gid);
  const data = join(dir, 'data');

  const [initCmd, initArgs] = user.wrap(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', cwd: dir });
  if (init.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout || String(init.error)}`);
  }

  // A port found free may be taken before postgres binds it; try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      const child = await startServer(bin, user, data, dir, port);
      const connectionString = `postgres://postgres@127.0.0.1:${port}/postgres`;
      const stopOnExit = () => killServer(data, 'SIGKILL');
      process.once('exit', stopOnExit);
      return {
        connectionString,
        port,
        dir,
        async stop() {
          process.off('exit', stopOnExit);
          await stopServer(child, data);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

async function startServer(
  bin: string,
  user: RunAs,
  data: string,
  dir: string,
  port: number,
): Promise<ChildProcess> {
  const [cmd, args] = user.wrap(join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-h',
    '127.0.0.1',
    '-k',
    dir,
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
  ]);
  const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}) on port ${port}:\n${output}`);
    }
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return child;
    } catch {
      await client.end().catch(() => {});
    }
    if (Date.now() > deadline) {
      await stopServer(child, data);
      throw new Error(`postgres did not accept connections on port ${port} within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The postmaster's pid, from its pid file: signalling `runuser` would not reach it. */
function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killServer(data: string, signal: NodeJS.Signals): void {
  const pid = postmasterPid(data);
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

async function stopServer(child: ChildProcess, data: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // SIGINT is PostgreSQL's "fast" shutdown: sessions are cut, nothing waits.
  killServer(data, 'SIGINT');
  const timer = setTimeout(() => {
    killServer(data, 'SIGKILL');
    child.kill('SIGKILL');
  }, 10_000);
  await exited;
  clearTimeout(timer);
}
