/**
 * `npm start -- [flags]`: start the gateway. Exit codes: 0 after a clean SIGTERM/SIGINT drain,
 * 1 when it cannot start (a port in use, an invalid configuration — one line naming it),
 * 2 for bad flags.
 */
import { EdgeError } from './core/errors.ts';
import { createLogger } from './core/log.ts';
import { parseFlags, usage } from './flags.ts';
import { Gateway } from './build-gateway.ts';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (!flags.ok) {
    process.stderr.write(`edgeline: ${flags.error.message}\n${usage}\n`);
    process.exit(2);
  }
  const logger = createLogger();
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ ...flags.value, logger });
  } catch (e) {
    const message = e instanceof EdgeError ? e.message : ((e as Error).stack ?? String(e));
    process.stderr.write(`edgeline: ${message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining calls before exit');
    gateway
      .stop()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((e: unknown) => {
        logger.error({ err: e }, 'error while stopping');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
