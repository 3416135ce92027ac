import { TASK_QUEUE } from '../workflows/definitions.ts';

/** Where processes find Temporal and the store; environment variables with local defaults. */
export interface EngineSettings {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  storeUrl: string;
}

export function engineSettings(env: NodeJS.ProcessEnv = process.env): EngineSettings {
  return {
    temporalAddress: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.CIO_SYNC_TASK_QUEUE || TASK_QUEUE,
    storeUrl: env.CIO_SYNC_STORE || 'sqlite:.data/cio-sync.db',
  };
}
