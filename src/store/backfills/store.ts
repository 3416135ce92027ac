/** What a backfill records for an export hour it appended completely. */
export interface BackfillHourDone {
  /** The records the export held for the hour. */
  records: number;
  /** How many of them were appended; the rest were in the log already (see LogStore.appendNew). */
  appended: number;
  /** The backfill run that appended them. */
  runId: string;
}

export interface BackfillHour extends BackfillHourDone {
  /** When the hour was marked done (epoch ms). */
  doneAt: number;
}

/**
 * Which hours of Amplitude's Export API a backfill has appended to a source's log completely, so a
 * run that stopped part-way, or is started again, does only the hours left. An hour is the epoch ms
 * of the UTC hour's start (a whole multiple of an hour; anything else is refused, so hours counted
 * another way cannot be stored by mistake). Ranges include both ends, as the Export API's do.
 */
export interface BackfillStore {
  /** Marks an hour done; marking it again (a forced re-run) replaces what was recorded. */
  markHourDone(sourceId: string, hour: number, done: BackfillHourDone): Promise<void>;
  /** The source's hours from `fromHour` through `toHour` that are marked done, by hour. */
  doneHours(sourceId: string, fromHour: number, toHour: number): Promise<Map<number, BackfillHour>>;
  /**
   * Unmarks the source's hours from `fromHour` through `toHour`, so a forced re-run does them again;
   * resolves to how many were marked.
   */
  forgetHours(sourceId: string, fromHour: number, toHour: number): Promise<number>;
}
