/**
 * The deployment files cannot be run here (no Docker engine), so they are checked as data: the
 * compose file parses, has the services and replicas docs/deployment.md describes, pins its images,
 * holds no secret, and registers exactly the search attributes the code uses; the Dockerfile builds
 * on the Node version the project runs. A change on either side that breaks the other fails here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

import { SEARCH_ATTRIBUTES } from '../src/workflows/sync-api.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  env_file?: ({ path: string; required?: boolean } | string)[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  healthcheck?: { test: string[] | string };
  profiles?: string[];
  volumes?: string[];
  ports?: string[];
}

const composeText = read('docker-compose.yml');
// Compose resolves YAML anchors and `<<` merge keys; so does this parse.
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
  configs: Record<string, { content: string }>;
};
const services = compose.services;
/** Services that run once and exit (schema set-up, namespace set-up) or only on demand (the CLI). */
const oneShot = (name: string) =>
  name === 'temporal-schema' || name === 'temporal-setup' || services[name]!.profiles !== undefined;
const commandOf = (service: Service) =>
  [service.entrypoint, service.command].flat().filter((part) => part !== undefined);

describe('docker-compose.yml', () => {
  it('has the scaled stack: two PostgreSQL, Temporal with its set-up and UI, ingest, worker, monitoring', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'store-db',
        'temporal-db',
        'temporal-schema',
        'temporal',
        'temporal-setup',
        'temporal-ui',
        'ingest',
        'ingest-lb',
        'worker',
        'cli',
        'prometheus',
        'grafana',
      ].sort(),
    );
    expect(services.ingest!.deploy?.replicas).toBe(2);
    expect(services.worker!.deploy?.replicas).toBe(2);
    expect(commandOf(services.ingest!)).toEqual(['node', 'src/ingest/server.ts']);
    expect(commandOf(services.worker!)).toEqual([
      'node',
      '--max-old-space-size=320',
      '--max-semi-space-size=32',
      'src/worker.ts',
    ]);
    for (const file of ['src/ingest/server.ts', 'src/worker.ts', 'bin/cio-sync.js'])
      expect(existsSync(resolve(ROOT, file)), file).toBe(true);
  });

  it('pins every pulled image to a version', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build !== undefined) continue;
      // Prometheus tags its images with a leading v (v3.13.1).
      expect(service.image, name).toMatch(/^[a-z0-9./-]+:v?\d+(\.\d+)+[\w.-]*$/);
    }
    // One Temporal version for the server and the tools that set up its schema.
    const server = services.temporal!.image!.split(':')[1]!;
    expect(services['temporal-schema']!.image).toContain(`:${server}-`);
    expect(services['temporal-setup']!.image).toBe(services['temporal-schema']!.image);
  });

  it('builds ingest, worker and CLI from this repository, with the store and Temporal it names', () => {
    for (const name of ['ingest', 'worker', 'cli']) {
      const service = services[name]!;
      expect(service.build, name).toBe('.');
      expect(service.environment).toMatchObject({
        CIO_SYNC_STORE: 'postgres://cio_sync@store-db:5432/cio_sync',
        TEMPORAL_ADDRESS: 'temporal:7233',
        CIO_SYNC_CONFIG: '/etc/cio-sync/cio-sync.yaml',
      });
      expect(service.volumes).toContain(
        '${CIO_SYNC_CONFIG_FILE:-./examples/cio-sync.yaml}:/etc/cio-sync/cio-sync.yaml:ro',
      );
      expect(service.env_file).toEqual([{ path: './deploy/cio-sync.env', required: false }]);
    }
    expect(existsSync(resolve(ROOT, 'examples/cio-sync.yaml'))).toBe(true);
    expect(services.ingest!.environment).toMatchObject({ CIO_SYNC_INGEST_HOST: '0.0.0.0' });
  });

  it('writes no secret: passwords are required from the environment, keys come from the env file', () => {
    const secretName = /PASSWORD|PWD|SECRET|TOKEN|KEY/i;
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (!secretName.test(key)) continue;
        expect(String(value), `${name}.${key}`).toMatch(/^\$\{[A-Z_]+:\?[^}]*\}$/);
      }
    }
    // Not even an example value: the Customer.io and source keys are never set in the file.
    for (const variable of ['CIO_SITE_ID', 'CIO_TRACK_API_KEY', 'CIO_APP_API_KEY', 'WEB_API_KEY'])
      expect(composeText).not.toMatch(new RegExp(`^\\s*(- )?${variable}\\s*[:=]`, 'm'));
    // No password inside a connection URL.
    expect(composeText).not.toMatch(/postgres(ql)?:\/\/[^@\s/]*:[^@\s]*@/);
    // The env file itself stays out of git and out of the image.
    expect(read('.gitignore')).toMatch(/^deploy\/cio-sync\.env$/m);
    expect(read('.dockerignore')).toMatch(/^deploy\/\*\.env$/m);
    const example = read('deploy/cio-sync.env.example');
    expect(example).toMatch(/^CIO_TRACK_API_KEY=$/m);
    expect(example).not.toMatch(/^[A-Z_]+=\S/m);
  });

  it('registers exactly the search attributes the workflows set', () => {
    const registered = String(services['temporal-setup']!.environment!.SEARCH_ATTRIBUTES).split(/\s+/);
    const typeName = { KEYWORD: 'Keyword', TEXT: 'Text', INT: 'Int', BOOL: 'Bool' } as const;
    expect(registered.sort()).toEqual(
      SEARCH_ATTRIBUTES.map((key) => `${key.name}=${typeName[key.type as keyof typeof typeName]}`).sort(),
    );
    const script = commandOf(services['temporal-setup']!).join('\n');
    expect(script).toContain('temporal operator search-attribute create');
    expect(script).toContain('temporal operator namespace create');
  });

  it('sets up Temporal on PostgreSQL with the admin tools before the server starts', () => {
    const schema = commandOf(services['temporal-schema']!).join('\n');
    expect(schema).toContain('temporal-sql-tool --plugin postgres12');
    expect(schema).toMatch(/update-schema -d "\$\$schema\/\$\$dir\/versioned"/);
    expect(services.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'temporal-db' });
    expect(services.temporal!.depends_on).toEqual({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
  });

  it('health-checks every long-running service, and waits on health or completion', () => {
    for (const [name, service] of Object.entries(services)) {
      if (!oneShot(name)) expect(service.healthcheck?.test, `${name} healthcheck`).toBeDefined();
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency], `${name} depends on ${dependency}`).toBeDefined();
        expect(condition, `${name} → ${dependency}`).toBe(
          oneShot(dependency) ? 'service_completed_successfully' : 'service_healthy',
        );
      }
    }
    // Workers start syncs only once the namespace and search attributes exist.
    expect(services.worker!.depends_on).toMatchObject({
      'temporal-setup': { condition: 'service_completed_successfully' },
    });
    // Ingest needs neither Temporal nor Customer.io.
    expect(Object.keys(services.ingest!.depends_on ?? {})).toEqual(['store-db']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('runs the Node version of .nvmrc on Debian (glibc for the Temporal bridge), not as root', () => {
    const version = read('.nvmrc').trim();
    expect(dockerfile).toContain(`ARG NODE_VERSION=${version}\n`);
    expect(dockerfile).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm-slim$/m);
    expect(dockerfile).not.toMatch(/^FROM .*alpine/im);
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends ca-certificates/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(
      /^CMD \["node", "--max-old-space-size=320", "--max-semi-space-size=32", "src\/worker\.ts"\]$/m,
    );
  });
});
