/**
 * A strategy cannot serve this file (no O_DIRECT on its filesystem, no raw
 * output, no addon). Thrown before anything is written for the entry; the
 * caller falls back to `copy` and records the message as the reason.
 */
export class StrategyUnavailable extends Error {}
