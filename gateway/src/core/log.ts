/**
 * Structured JSON logs (pino). Child loggers carry the ids a reader filters by: `callId`,
 * `interactionId`, `txId` (transaction branch), `trunk`.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: LevelWithSilent; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'edgeline',
    level: opts.level ?? (process.env['EDGELINE_LOG_LEVEL'] as LevelWithSilent | undefined) ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that writes nothing, for unit tests of cores. */
export const silentLogger: Logger = pino({ level: 'silent' });
