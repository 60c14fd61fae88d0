/** A simulated card and office on a manual clock, with every channel's events and audio captured. */
import { ManualClock } from '../../../base/clock.ts';
import { goertzelCoefficient, goertzelPower } from '../../../base/signal/goertzel.ts';
import { meanPower, powerToDbm0 } from '../../../base/signal/line-audio.ts';
import type { Channel, ChannelEvent } from '../../api/types.ts';
import type { CentralOfficeOptions } from '../../sim/central-office.ts';
import { createSimulation, type SimCardOptions, type Simulation } from '../../sim/sim-card.ts';

export interface Tap {
  channel: Channel;
  events: ChannelEvent[];
  /** Every frame received, with the time it arrived. */
  frames: { atMs: number; frame: Int16Array }[];
}

export interface Harness extends Simulation {
  clock: ManualClock;
  tap(id: string): Tap;
  channel(id: string): Channel;
  advance(ms: number): void;
}

export function harness(
  options: SimCardOptions & { office?: Omit<CentralOfficeOptions, 'clock' | 'timers'> } = {},
): Harness {
  const clock = new ManualClock();
  const sim = createSimulation(options, { clock, timers: clock });
  const taps = new Map<string, Tap>();
  const channel = (id: string): Channel => {
    const ch = sim.card.channel(id.includes('/') ? id : `sim0/${id}`);
    if (!ch) throw new Error(`no channel ${id}`);
    return ch;
  };
  return {
    ...sim,
    clock,
    channel,
    tap(id: string): Tap {
      const ch = channel(id);
      const existing = taps.get(ch.id);
      if (existing) return existing;
      const t: Tap = { channel: ch, events: [], frames: [] };
      ch.onEvent((ev) => t.events.push(ev));
      ch.onAudio((frame) => t.frames.push({ atMs: clock.now(), frame: Int16Array.from(frame) }));
      taps.set(ch.id, t);
      return t;
    },
    advance(ms: number): void {
      clock.advance(ms);
    },
  };
}

/** Samples received between two times (frames stamped in [fromMs, toMs)). */
export function heard(tap: Tap, fromMs: number, toMs: number, onlyOn = false): Int16Array {
  const parts = tap.frames
    .filter((f) => f.atMs >= fromMs && f.atMs < toMs && (!onlyOn || levelDbm0(f.frame) > -40))
    .map((f) => f.frame);
  const out = new Int16Array(parts.length * 160);
  parts.forEach((p, i) => out.set(p, i * 160));
  return out;
}

export function levelDbm0(samples: Int16Array): number {
  return powerToDbm0(meanPower(samples));
}

/** Share of the block's power at `freqHz` (1 for a pure sine at that frequency). */
export function purity(samples: Int16Array, freqHz: number): number {
  const n = samples.length;
  const p = goertzelPower(samples, goertzelCoefficient(freqHz, 8000), 0, n);
  const total = meanPower(samples);
  return total > 0 ? (2 * p) / (n * n) / total : 0;
}

/** Runs of frames that are "on" (above −40 dBm0): [startMs, endMs) each. */
export function onRuns(tap: Tap, fromMs: number, toMs: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let start: number | null = null;
  for (const f of tap.frames) {
    if (f.atMs < fromMs || f.atMs >= toMs) continue;
    const on = levelDbm0(f.frame) > -40;
    if (on && start === null) start = f.atMs;
    if (!on && start !== null) {
      runs.push([start, f.atMs]);
      start = null;
    }
  }
  if (start !== null) runs.push([start, toMs]);
  return runs;
}

export function eventsOf<T extends ChannelEvent['type']>(
  tap: Tap,
  type: T,
): Extract<ChannelEvent, { type: T }>[] {
  return tap.events.filter((e): e is Extract<ChannelEvent, { type: T }> => e.type === type);
}

/** Feed a tone into a channel's transmit path for `ms`, a frame per tick. */
export function sendTone(h: Harness, ch: Channel, freqHz: number, levelDbm0v: number, ms: number): void {
  const peak = 22656 * 10 ** (levelDbm0v / 20);
  let n = 0;
  for (let t = 0; t < ms; t += 20) {
    const frame = new Int16Array(160);
    for (let i = 0; i < 160; i++, n++)
      frame[i] = Math.round(peak * Math.sin((2 * Math.PI * freqHz * n) / 8000));
    ch.sendAudio(frame);
    h.advance(20);
  }
}
