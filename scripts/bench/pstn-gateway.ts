// The gateway as bench:pstn runs it: exactly `npm start` (same flags, same Gateway), plus an IPC
// channel to the parent that answers `{ t: 'dump' }` with the simulated cards' frame counters and
// the office's frame clock (neither is served over HTTP). Spawned with an 'ipc' stdio slot.
import type { Card } from '../../drivers/api/types.ts';
import type { CentralOffice } from '../../drivers/sim/central-office.ts';
import { createLogger } from '../../gateway/src/core/log.ts';
import { parseFlags, usage } from '../../gateway/src/service/flags.ts';
import { Gateway } from '../../gateway/src/service/gateway.ts';

export interface CardCounters {
  channels: number;
  framesIn: number;
  framesOut: number;
  txOverruns: number;
  txUnderruns: number;
  /** Channels with at least one transmit overrun / underrun. */
  channelsOverrun: number;
  channelsUnderrun: number;
}

export interface PstnBenchDump {
  office: { ticks: number; overruns: number; calls: number; callsRejected: number } | null;
  cards: CardCounters;
}

/** What the bench reads of the PSTN user agent: its cards and the office behind them. */
interface PstnInternals {
  cards: Map<string, Card>;
  office: CentralOffice | undefined;
}

function collect(gateway: Gateway): PstnBenchDump {
  const pstn = (gateway as unknown as { pstn?: PstnInternals }).pstn;
  const cards: CardCounters = {
    channels: 0,
    framesIn: 0,
    framesOut: 0,
    txOverruns: 0,
    txUnderruns: 0,
    channelsOverrun: 0,
    channelsUnderrun: 0,
  };
  for (const card of pstn?.cards.values() ?? []) {
    for (const ch of card.channels()) {
      const s = ch.dump().stats;
      cards.channels++;
      cards.framesIn += s.framesIn;
      cards.framesOut += s.framesOut;
      cards.txOverruns += s.txOverruns;
      cards.txUnderruns += s.txUnderruns;
      if (s.txOverruns > 0) cards.channelsOverrun++;
      if (s.txUnderruns > 0) cards.channelsUnderrun++;
    }
  }
  const office = pstn?.office?.dump().stats ?? null;
  return { office: office ? { ...office } : null, cards };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (!flags.ok) {
    process.stderr.write(`edgeline: ${flags.error.message}\n${usage}\n`);
    process.exit(2);
  }
  const logger = createLogger();
  const gateway = await Gateway.start({ ...flags.value, logger });
  process.on('message', (m: { t?: string; id?: number }) => {
    if (m.t === 'dump') process.send?.({ t: 'dump', id: m.id, dump: collect(gateway) });
  });
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
