/**
 * What user forwarding remembers about one user of one sync, to send Customer.io only what changed.
 * Kept in the store, not in workflow state: it grows with the number of users, and a delivery reads
 * it for the users of its batch only.
 */
export interface UserSnapshot {
  /**
   * The selected attributes as Customer.io last accepted them: typed values, before `stringify`. An
   * attribute dead-lettered for a name or value over Customer.io's limits is recorded here too, so
   * it is reported once rather than with every later update of the user.
   */
  attributes: Record<string, unknown>;
  /**
   * The selected user properties with every operation applied in log order, whatever Customer.io
   * answered: what `$add` and `$append` build on. Differs from `attributes` only while something
   * was rejected, and the difference is what the next update (or a redrive) sends.
   */
  state: Record<string, unknown>;
  /** The seq of the last record applied to `state`; a record at or below it is not applied again. */
  seq: number;
  /**
   * Set while only history (backfilled records) has been applied: the newest such record's time.
   * Absent once a live record was applied, or for snapshots older than backfills: then the live
   * stream holds the user's present and no historical record is applied over it.
   */
  historyTime?: number;
}

export type UserSnapshotEntries = ReadonlyArray<{ userKey: string; snapshot: UserSnapshot }>;

/** What a person delete, suppress or unsuppress accepted by Customer.io changes in the store. */
export type PersonChange = 'delete' | 'suppress' | 'unsuppress';

export interface ForgetPeopleInput {
  syncId: string;
  snapshotScopes: readonly string[];
  destinationId?: string;
  changes: ReadonlyArray<{ userKey: string; change: PersonChange }>;
}

/** User forwarding's memory: snapshots, and the deletions and suppressions that drop them. */
export interface UserStore {
  /** The snapshots of these users of a sync (by user key); users never seen are absent from the map. */
  getUserSnapshots(syncId: string, userKeys: readonly string[]): Promise<Map<string, UserSnapshot>>;
  /**
   * Upserts user snapshots in one transaction. A stored snapshot with a higher `seq` is kept: a
   * redrive running beside a delivery must not roll a user back.
   */
  putUserSnapshots(syncId: string, entries: UserSnapshotEntries): Promise<void>;

  /**
   * What a sync's accepted person deletes and suppressions change locally, applied in order in one
   * transaction: `delete` and `suppress` drop the user's snapshots in every scope of `snapshotScopes`
   * (so a later identify starts from scratch) and, with `destinationId`, record the person as forgotten
   * in that Customer.io workspace (cohort syncs drop them from their baselines, see
   * CohortStore.dropForgottenMembers); `suppress` marks the user suppressed in scope `syncId`;
   * `unsuppress` lifts that.
   */
  forgetPeople(input: ForgetPeopleInput): Promise<void>;
  /** Which of these users are suppressed in scope `syncId`. */
  getSuppressedUsers(syncId: string, userKeys: readonly string[]): Promise<Set<string>>;
}
