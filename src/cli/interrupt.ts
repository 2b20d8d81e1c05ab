import { SafebakError } from '../errors.js';

/**
 * An AbortSignal that SIGINT and SIGTERM trip, so that the library unwinds
 * (temporary files removed) and the CLI exits 130. `dispose()` removes the
 * handlers again.
 */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handler = (name: NodeJS.Signals): void => {
    controller.abort(new SafebakError('SAFEBAK_ABORTED', `interrupted by ${name}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
