/**
 * Port groups and hunting: which free channel an outbound PSTN call seizes, and what happens when
 * there is none. A group lists FXO lines and E1 spans; a span contributes each of its bearer
 * channels. Pure policy over plain state the line layer keeps (busy channels, usage counts, the
 * round-robin pointer), so the same order comes out in tests and in service.
 */
import { err, ok, type Result } from '../../../base/result.ts';

export type LineDirection = 'both' | 'in' | 'out';
export type HuntStrategy = 'sequential' | 'round-robin' | 'least-used';

export interface PstnLine {
  id: string;
  card: string;
  port: number;
  number?: string;
  direction: LineDirection;
}

export interface PstnSpan {
  id: string;
  card: string;
  span: number;
  channels: string;
  direction: LineDirection;
  number?: string;
}

export interface PortGroup {
  id: string;
  members: readonly string[];
  hunt: HuntStrategy;
}

export interface PstnPorts {
  lines: readonly PstnLine[];
  spans: readonly PstnSpan[];
  groups: readonly PortGroup[];
}

/** One bearer: an FXO line (`fxo1`) or one channel of an E1 span (`e1-1/5`). */
export interface ChannelRef {
  /** `line` for an FXO port, `line/channel` for a span channel: the key of busy sets and counts. */
  key: string;
  line: string;
  channel?: number;
}

/** A group with its members expanded to channels, in the group's order. */
export interface HuntGroup {
  id: string;
  hunt: HuntStrategy;
  channels: readonly ChannelRef[];
}

export interface HuntState {
  /** Channel keys that cannot be seized now: in a call, seized, in alarm or out of service. */
  busy: ReadonlySet<string>;
  /** Calls carried per channel key, for `least-used`; absent = 0. */
  usage?: Readonly<Record<string, number>>;
  /** Index into `channels` where the next `round-robin` hunt starts. */
  rrNext?: number;
}

/**
 * ITU-T G.704 §5.1.3: on a 2048 kbit/s E1, timeslot 0 carries frame alignment and timeslot 16
 * the signalling (CAS multiframe or the PRI D channel), leaving timeslots 1-15 and 17-31 as the
 * 30 bearer channels.
 */
export function parseChannelList(spec: string): Result<number[]> {
  const out: number[] = [];
  const seen = new Set<number>();
  for (const part of spec.split(',')) {
    const m = /^(\d{1,2})(?:-(\d{1,2}))?$/.exec(part.trim());
    if (!m)
      return err({
        code: 'EDGE_ERR_ROUTING_CHANNELS',
        message: `'${part}' is not a channel or range`,
        field: 'channels',
      });
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo)
      return err({
        code: 'EDGE_ERR_ROUTING_CHANNELS',
        message: `range ${part} runs backwards`,
        field: 'channels',
      });
    for (let c = lo; c <= hi; c++) {
      if (c < 1 || c > 31 || c === 16) {
        return err({
          code: 'EDGE_ERR_ROUTING_CHANNELS',
          message: `timeslot ${c} is not an E1 bearer channel (1-15, 17-31)`,
          field: 'channels',
        });
      }
      if (seen.has(c))
        return err({
          code: 'EDGE_ERR_ROUTING_CHANNELS',
          message: `channel ${c} is listed twice`,
          field: 'channels',
        });
      seen.add(c);
      out.push(c);
    }
  }
  return ok(out);
}

/**
 * The channels of group `groupId` usable in `direction`, in member order. A line or span set to
 * the other direction is left out (an `in` line is never seized for an outbound call). Unknown
 * members were refused by validation; here they are skipped.
 */
export function huntGroup(ports: PstnPorts, groupId: string, direction: 'in' | 'out'): HuntGroup | undefined {
  const group = ports.groups.find((g) => g.id === groupId);
  if (!group) return undefined;
  const channels: ChannelRef[] = [];
  const usable = (d: LineDirection) => d === 'both' || d === direction;
  for (const member of group.members) {
    const line = ports.lines.find((l) => l.id === member);
    if (line) {
      if (usable(line.direction)) channels.push({ key: line.id, line: line.id });
      continue;
    }
    const span = ports.spans.find((s) => s.id === member);
    if (!span || !usable(span.direction)) continue;
    const list = parseChannelList(span.channels);
    if (!list.ok) continue;
    for (const c of list.value) channels.push({ key: `${span.id}/${c}`, line: span.id, channel: c });
  }
  return { id: group.id, hunt: group.hunt, channels };
}

/** Whether a line or span id is a member of a group (inbound routes matching by group). */
export function groupHasMember(ports: PstnPorts, groupId: string, lineId: string): boolean {
  return ports.groups.some((g) => g.id === groupId && g.members.includes(lineId));
}

/**
 * The free channels of a group in the order they should be tried:
 *   sequential  — always from the first member: the first lines carry most calls, the last ones
 *                 stay free for inbound (the classic "hunt up").
 *   round-robin — from the channel after the one seized last, wrapping: wear spread evenly.
 *   least-used  — fewest calls carried first, ties in member order.
 */
export function huntOrder(group: HuntGroup, state: HuntState): ChannelRef[] {
  const free = (c: ChannelRef) => !state.busy.has(c.key);
  const n = group.channels.length;
  switch (group.hunt) {
    case 'sequential':
      return group.channels.filter(free);
    case 'round-robin': {
      const start = n === 0 ? 0 : (((state.rrNext ?? 0) % n) + n) % n;
      return [...group.channels.slice(start), ...group.channels.slice(0, start)].filter(free);
    }
    case 'least-used': {
      const usage = state.usage ?? {};
      return group.channels
        .map((c, i) => ({ c, i, used: usage[c.key] ?? 0 }))
        .filter(({ c }) => free(c))
        .sort((a, b) => a.used - b.used || a.i - b.i)
        .map(({ c }) => c);
    }
    default: {
      const never: never = group.hunt;
      return never;
    }
  }
}

/** The round-robin pointer after seizing `chosen`: the next hunt starts just past it. */
export function nextRoundRobin(group: HuntGroup, chosen: ChannelRef): number {
  const i = group.channels.findIndex((c) => c.key === chosen.key);
  return i < 0 ? 0 : (i + 1) % Math.max(1, group.channels.length);
}

export interface RouteTarget {
  type: 'trunk' | 'group';
  id: string;
}

export type Attempt =
  | { kind: 'channel'; targetIndex: number; group: string; channel: ChannelRef }
  | { kind: 'trunk'; targetIndex: number; trunk: string };

export interface WalkState {
  busy: ReadonlySet<string>;
  usage?: Readonly<Record<string, number>>;
  /** Round-robin pointer per group id. */
  rrNext?: Readonly<Record<string, number>>;
  /** Trunks whose every member is down (trunk health): not worth an INVITE. */
  trunksDown?: ReadonlySet<string>;
  /** `attemptKey`s already tried for this call (seize failed, trunk gave a failover status). */
  tried: ReadonlySet<string>;
}

export type WalkStep =
  | { kind: 'try'; attempt: Attempt }
  /** Nothing left: the caller gets 503 (RFC 3261 §21.5.4) and, on a PSTN or early-media leg, busy tone. */
  | { kind: 'exhausted'; status: 503; reason: string; tone: 'busy' };

export function attemptKey(a: Attempt): string {
  return a.kind === 'trunk' ? `trunk:${a.trunk}` : `channel:${a.channel.key}`;
}

/**
 * The next thing to try for an outbound call: the targets in route order; inside a group, its
 * free channels in hunt order. A group with every channel busy (or already tried) passes to the
 * next target; when the list is used up the call is refused with 503 and busy tone. Call control
 * adds each failed attempt to `tried` and asks again — a seize that loses glare or finds no dial
 * tone moves on to the next channel. A callee's own answer (busy, no answer) ends the walk there:
 * trying another route would ring the callee twice.
 */
export function nextAttempt(ports: PstnPorts, targets: readonly RouteTarget[], state: WalkState): WalkStep {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i];
    if (!t) continue;
    if (t.type === 'trunk') {
      const attempt: Attempt = { kind: 'trunk', targetIndex: i, trunk: t.id };
      if (state.trunksDown?.has(t.id) || state.tried.has(attemptKey(attempt))) continue;
      return { kind: 'try', attempt };
    }
    const group = huntGroup(ports, t.id, 'out');
    if (!group) continue;
    const order = huntOrder(group, { busy: state.busy, usage: state.usage, rrNext: state.rrNext?.[t.id] });
    for (const channel of order) {
      const attempt: Attempt = { kind: 'channel', targetIndex: i, group: t.id, channel };
      if (!state.tried.has(attemptKey(attempt))) return { kind: 'try', attempt };
    }
  }
  return { kind: 'exhausted', status: 503, reason: 'Service Unavailable (all channels busy)', tone: 'busy' };
}
