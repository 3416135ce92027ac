/**
 * How the worker process is started: its V8 heap and young-generation sizes and its malloc arenas.
 * Read by `make start`, the image, compose and the benchmarks, so they all run the same worker.
 */

/** The Node flags the worker process is started with (`make start`, benchmarks). */
export function workerNodeArgs(settings: { workerHeapMb: number }): string[] {
  return [`--max-old-space-size=${settings.workerHeapMb}`, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];
}

/**
 * The worker's V8 young generation, per semi-space (MB). Node 24 lets it grow to 64 MB, twice over
 * (a semi-space pair) in each of the worker's two V8 threads (activities, workflows): up to 256 MB
 * of a peak RSS that is mostly garbage not yet scavenged. 32 lowers the peak at the same throughput
 * and CPU; smaller, the worker spends markedly more CPU scavenging (docs/benchmarks.md).
 */
export const WORKER_SEMI_SPACE_MB = 32;

/**
 * The semi-spaces of the worker's workflow thread (MB), set apart from the activities' (see
 * src/temporal/workflow-thread.ts). Its activations make little garbage, but with the activities'
 * 32 MB its young generation grew to 64 MB while a hundred syncs started and waited, and kept it;
 * 8 MB is enough for it and lowers the worker's peak with many syncs (docs/benchmarks.md).
 */
export const WORKFLOW_THREAD_SEMI_SPACE_MB = 8;

/**
 * glibc's malloc arenas the worker may use (MALLOC_ARENA_MAX, read by the C library, not by us).
 * Its native threads (Temporal's core, libuv, V8) each get an arena by default, and freed memory
 * stays in them; two arenas hold less at the same throughput (docs/benchmarks.md). The image,
 * compose and `npm run worker` set it.
 */
export const WORKER_MALLOC_ARENAS = 2;

/** The environment the worker process is started with: `env`, with MALLOC_ARENA_MAX unless it sets one. */
export function workerProcessEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { MALLOC_ARENA_MAX: String(WORKER_MALLOC_ARENAS), ...env };
}
