// The gateway as bench:pstn runs it: exactly `npm start` (same flags, same Gateway), plus one IPC
// message to the parent once it listens, naming the ports it bound (the bench asks for port 0).
// Everything the bench measures it reads over the HTTP API (`GET /api/status`: the `pstn` dump's
// card and office frame counters, the media engine's frame legs). Spawned with an 'ipc' stdio slot.
import { createLogger } from '../../gateway/src/core/log.ts';
import { parseFlags, usage } from '../../gateway/src/flags.ts';
import { Gateway } from '../../gateway/src/build-gateway.ts';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (!flags.ok) {
    process.stderr.write(`edgeline: ${flags.error.message}\n${usage}\n`);
    process.exit(2);
  }
  const logger = createLogger();
  const gateway = await Gateway.start({ ...flags.value, logger });
  process.send?.({ t: 'ready', sipPort: gateway.sipPort, httpPort: gateway.httpPort });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void gateway.stop(0).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}

void main().catch((e: unknown) => {
  process.stderr.write(`edgeline: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
