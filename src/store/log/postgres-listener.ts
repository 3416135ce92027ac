import { createHash } from 'node:crypto';

import pg from 'pg';

/**
 * The NOTIFY channel of a source's log. Hashed: a channel is an identifier of at most 63 bytes and
 * a source id is any string, and one channel per source means a worker is only woken for the
 * sources it waits on.
 */
export function logChannel(sourceId: string): string {
  return `cio_sync_log_${createHash('sha256').update(sourceId).digest('hex').slice(0, 40)}`;
}

/**
 * One dedicated connection that LISTENs on the channels of the sources someone waits for and wakes
 * them on NOTIFY. Losing it is not an error: waiters fall back to polling (see `listening`) and the
 * next subscription reconnects, at most once per `retryMs`.
 */
export class LogListener {
  readonly #config: pg.ClientConfig;
  readonly #retryMs: number;
  /** Wake-ups by channel. A channel stays LISTENed once used: sources are few, and it saves a round trip per wait. */
  readonly #wakers = new Map<string, Set<() => void>>();
  /** LISTEN statements issued on the current connection, by channel; resolved once active. */
  #listened = new Map<string, Promise<boolean>>();
  /** Channels whose LISTEN is active on the current connection. */
  readonly #active = new Set<string>();
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client | undefined> | undefined;
  #lastFailure = -Infinity;
  #closed = false;

  constructor(config: pg.ClientConfig, retryMs: number) {
    this.#config = config;
    this.#retryMs = retryMs;
  }

  /**
   * Calls `wake` on every NOTIFY of `channel` until the returned function is called. Resolves once
   * the LISTEN is active (so a commit after it cannot go unnoticed), or once it is known not to be:
   * it never rejects.
   */
  async subscribe(channel: string, wake: () => void): Promise<() => void> {
    let wakers = this.#wakers.get(channel);
    if (wakers === undefined) this.#wakers.set(channel, (wakers = new Set()));
    wakers.add(wake);
    const unsubscribe = (): void => {
      wakers.delete(wake);
    };
    const client = await this.#connect();
    if (client !== undefined) await this.#listen(client, channel);
    return unsubscribe;
  }

  /** Whether a NOTIFY on `channel` would reach us now; when not, waiters must poll briskly. */
  listening(channel: string): boolean {
    return this.#client !== undefined && this.#active.has(channel);
  }

  #listen(client: pg.Client, channel: string): Promise<boolean> {
    let listened = this.#listened.get(channel);
    if (listened === undefined) {
      listened = client.query(`LISTEN ${client.escapeIdentifier(channel)}`).then(
        () => {
          if (this.#client === client) this.#active.add(channel);
          return true;
        },
        () => {
          // Retried by the next subscription; meanwhile the waiter polls.
          if (this.#listened.get(channel) === listened) this.#listened.delete(channel);
          return false;
        },
      );
      this.#listened.set(channel, listened);
    }
    return listened;
  }

  #connect(): Promise<pg.Client | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    if (this.#client !== undefined) return Promise.resolve(this.#client);
    if (this.#connecting !== undefined) return this.#connecting;
    if (performance.now() - this.#lastFailure < this.#retryMs) return Promise.resolve(undefined);
    const client = new pg.Client(this.#config);
    const lost = (): void => this.#lost(client);
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => {
      for (const wake of [...(this.#wakers.get(message.channel) ?? [])]) wake();
    });
    this.#connecting = client.connect().then(
      () => {
        this.#connecting = undefined;
        if (this.#closed) {
          void client.end().catch(() => {});
          return undefined;
        }
        this.#client = client;
        return client;
      },
      () => {
        this.#connecting = undefined;
        this.#lastFailure = performance.now();
        void client.end().catch(() => {});
        return undefined;
      },
    );
    return this.#connecting;
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#listened = new Map();
    this.#active.clear();
    this.#lastFailure = performance.now();
    void client.end().catch(() => {});
    // Every waiter looks at the log now and from then on polls at the fallback pace.
    for (const wakers of this.#wakers.values()) for (const wake of [...wakers]) wake();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client ?? (await this.#connecting);
    this.#client = undefined;
    this.#active.clear();
    this.#wakers.clear();
    await client?.end().catch(() => {});
  }
}
