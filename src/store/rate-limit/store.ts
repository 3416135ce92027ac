export interface RateLimitStore {
  /**
   * Reserves the next slot of a shared rate limit (GCRA): returns how many ms the caller must wait
   * before its request may go. Holds across every process that shares the store.
   */
  reserveRateSlot(key: string, perSecond: number): Promise<number>;
}

export function assertRate(perSecond: number): void {
  if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
    throw new RangeError(`reserveRateSlot: perSecond must be a positive number, got ${perSecond}`);
  }
}
