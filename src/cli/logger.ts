import pino from 'pino';
import type { Logger } from 'pino';

export interface LogSettings {
  logFile: string | null;
  logLevel: string;
  /** Whether the level was asked for explicitly (then logs go to stderr when there is no log file). */
  levelGiven: boolean;
}

/**
 * The CLI's pino logger: JSON lines to `--log-file`, or to stderr only when
 * a level was asked for (the human summary owns stderr otherwise).
 */
export function createCliLogger(settings: LogSettings): Logger | undefined {
  if (settings.logFile !== null) {
    const dest = pino.destination({ dest: settings.logFile, sync: true, mkdir: false });
    return pino({ level: settings.logLevel, base: { pid: process.pid } }, dest);
  }
  if (settings.levelGiven && settings.logLevel !== 'silent') {
    return pino({ level: settings.logLevel, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
  }
  return undefined;
}

/**
 * Reopens the log file (after logrotate moved it: SIGHUP). Returns false when
 * the logger writes to no file, so that the caller can treat SIGHUP as what it
 * means without one: the session went away.
 */
export function reopenLogFile(logger: Logger | undefined, settings: Pick<LogSettings, 'logFile'>): boolean {
  if (logger === undefined || settings.logFile === null) return false;
  const dest = (logger as unknown as Record<symbol, { reopen?: () => void }>)[pino.symbols.streamSym];
  dest?.reopen?.();
  logger.info({ logFile: settings.logFile }, 'log file reopened (SIGHUP)');
  return true;
}
