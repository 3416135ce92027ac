/**
 * One step of the store schema. Versions only ever grow and an applied step is never edited: a
 * store that has recorded a version in `schema_migrations` will not run that step again, so a
 * change to an existing step would silently never reach stores created before it.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function assertIncreasingVersions(list: readonly Migration[]): void {
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.version <= list[i - 1]!.version)
      throw new Error('store: migrations must have increasing versions');
  }
}
