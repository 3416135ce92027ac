/** Small key/value state (e.g. the id of a segment created for a cohort sync). */
export interface StateStore {
  getState(key: string): Promise<string | undefined>;
  /** Sets `key` only if it is unset; returns the value that is stored afterwards. */
  setStateIfAbsent(key: string, value: string): Promise<string>;
  setState(key: string, value: string): Promise<void>;
}
