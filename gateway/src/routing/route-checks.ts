/**
 * The checks a configuration's PSTN ports and routes must pass beyond its schema: every name
 * refers to something that exists, ports exist on their cards, and no route sends a call round in
 * a circle. Each problem carries the JSON pointer (RFC 6901) of the value to fix. Run by config
 * validation, so a configuration that would loop is refused before it is saved.
 */
import { compileDialPattern } from './dial-pattern.ts';
import { parseChannelList } from './hunt.ts';
import type { PstnRoutingConfig } from './pstn-routing.ts';
import type { InboundDestination, InboundRoute } from './sip-routing.ts';
import { clockMinutes, isKnownTimeZone } from './time-condition.ts';

export interface RouteProblem {
  field: string;
  message: string;
}

export interface RouteCheckInput extends PstnRoutingConfig {
  trunks: readonly { id: string }[];
  pstn: PstnRoutingConfig['pstn'] & { cards: readonly { id: string; fxo: number; e1Spans: number }[] };
}

function ptr(...segments: Array<string | number>): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

function firstIndex<T>(
  items: readonly T[],
  key: (t: T) => string,
  add: (i: number, prev: number) => void,
): Set<string> {
  const seen = new Map<string, number>();
  items.forEach((t, i) => {
    const k = key(t);
    const prev = seen.get(k);
    if (prev === undefined) seen.set(k, i);
    else add(i, prev);
  });
  return new Set(seen.keys());
}

function isCalendarDate(s: string): boolean {
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s);
}

export function checkPstnRouting(c: RouteCheckInput): RouteProblem[] {
  const problems: RouteProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  const trunks = new Set(c.trunks.map((t) => t.id));
  const extensions = new Set(c.extensions.map((e) => e.number));
  const services = new Set(c.services.map((s) => s.number));
  const { cards, lines, spans, groups } = c.pstn;

  // Cards, lines and spans: each port exists on its card and is configured once.
  const cardById = new Map(cards.map((card) => [card.id, card]));
  firstIndex(
    cards,
    (card) => card.id,
    (i, p) =>
      add(ptr('pstn', 'cards', i, 'id'), `duplicates the card id at ${ptr('pstn', 'cards', p, 'id')}`),
  );
  const portIds = [
    ...lines.map((l, i) => ({ id: l.id, at: ptr('pstn', 'lines', i, 'id') })),
    ...spans.map((s, i) => ({ id: s.id, at: ptr('pstn', 'spans', i, 'id') })),
  ];
  const firstAt = new Map<string, string>();
  for (const p of portIds) {
    const prev = firstAt.get(p.id);
    if (prev) add(p.at, `duplicates the line or span id at ${prev}`);
    else firstAt.set(p.id, p.at);
  }
  lines.forEach((l, i) => {
    const card = cardById.get(l.card);
    if (!card) add(ptr('pstn', 'lines', i, 'card'), `names unknown card '${l.card}'`);
    else if (l.port > card.fxo) {
      add(
        ptr('pstn', 'lines', i, 'port'),
        `card '${card.id}' has ${card.fxo} FXO port${card.fxo === 1 ? '' : 's'}`,
      );
    }
  });
  firstIndex(
    lines,
    (l) => `${l.card}\u0000${l.port}`,
    (i, p) => add(ptr('pstn', 'lines', i, 'port'), `is already used by ${ptr('pstn', 'lines', p)}`),
  );
  spans.forEach((s, i) => {
    const card = cardById.get(s.card);
    if (!card) add(ptr('pstn', 'spans', i, 'card'), `names unknown card '${s.card}'`);
    else if (s.span > card.e1Spans) {
      add(
        ptr('pstn', 'spans', i, 'span'),
        `card '${card.id}' has ${card.e1Spans} E1 span${card.e1Spans === 1 ? '' : 's'}`,
      );
    }
    const ch = parseChannelList(s.channels);
    if (!ch.ok) add(ptr('pstn', 'spans', i, 'channels'), ch.error.message);
  });
  firstIndex(
    spans,
    (s) => `${s.card}\u0000${s.span}`,
    (i, p) => add(ptr('pstn', 'spans', i, 'span'), `is already used by ${ptr('pstn', 'spans', p)}`),
  );
  const ports = new Set(firstAt.keys());
  const directionOf = (id: string) =>
    lines.find((l) => l.id === id)?.direction ?? spans.find((s) => s.id === id)?.direction;

  // Port groups.
  const groupIds = firstIndex(
    groups,
    (g) => g.id,
    (i, p) =>
      add(ptr('pstn', 'groups', i, 'id'), `duplicates the group id at ${ptr('pstn', 'groups', p, 'id')}`),
  );
  groups.forEach((g, i) => {
    g.members.forEach((m, j) => {
      if (!ports.has(m)) add(ptr('pstn', 'groups', i, 'members', j), `names unknown line or span '${m}'`);
    });
  });
  const canDialOut = (groupId: string) =>
    groups.find((g) => g.id === groupId)?.members.some((m) => directionOf(m) !== 'in' && ports.has(m)) ??
    false;

  // Ring groups and time conditions.
  const ringGroupIds = firstIndex(
    c.ringGroups,
    (g) => g.id,
    (i, p) =>
      add(ptr('ringGroups', i, 'id'), `duplicates the ring group id at ${ptr('ringGroups', p, 'id')}`),
  );
  c.ringGroups.forEach((g, i) => {
    g.members.forEach((m, j) => {
      if (!extensions.has(m)) add(ptr('ringGroups', i, 'members', j), `names unknown extension '${m}'`);
    });
  });
  const timeConditionIds = firstIndex(
    c.timeConditions,
    (t) => t.id,
    (i, p) =>
      add(
        ptr('timeConditions', i, 'id'),
        `duplicates the time condition id at ${ptr('timeConditions', p, 'id')}`,
      ),
  );
  c.timeConditions.forEach((t, i) => {
    if (!isKnownTimeZone(t.timeZone)) add(ptr('timeConditions', i, 'timeZone'), `is not a known time zone`);
    t.hours.forEach((h, j) => {
      if (clockMinutes(h.from) === clockMinutes(h.to)) {
        add(ptr('timeConditions', i, 'hours', j, 'to'), 'must differ from from (an empty period)');
      }
      if (h.from === '24:00') add(ptr('timeConditions', i, 'hours', j, 'from'), 'must be before 24:00');
    });
    t.holidays.forEach((d, j) => {
      if (!isCalendarDate(d)) add(ptr('timeConditions', i, 'holidays', j), `'${d}' is not a calendar date`);
    });
  });

  // Destinations: names exist, branches present where needed, no time condition inside itself.
  const checkDestination = (
    d: InboundDestination,
    at: string[],
    insideConditions: readonly string[],
  ): void => {
    const path = (...more: string[]) => ptr(...at, ...more);
    const known: Record<InboundDestination['type'], Set<string> | null> = {
      extension: extensions,
      trunk: trunks,
      service: services,
      'ring-group': ringGroupIds,
      'time-condition': timeConditionIds,
      group: groupIds,
      // Named now; the IVR and queue sections arrive with their features.
      ivr: null,
      queue: null,
    };
    const set = known[d.type];
    if (set && !set.has(d.target)) add(path('target'), `names unknown ${d.type} '${d.target}'`);
    if (d.type !== 'time-condition') {
      if (d.whenOpen) add(path('whenOpen'), `is only for a time-condition destination`);
      if (d.whenClosed) add(path('whenClosed'), `is only for a time-condition destination`);
      return;
    }
    if (insideConditions.includes(d.target)) {
      add(path('target'), `loops: time condition '${d.target}' is nested inside itself`);
      return;
    }
    const inside = [...insideConditions, d.target];
    if (d.whenOpen) checkDestination(d.whenOpen, [...at, 'whenOpen'], inside);
    else add(path('whenOpen'), 'is required for a time-condition destination');
    if (d.whenClosed) checkDestination(d.whenClosed, [...at, 'whenClosed'], inside);
    else add(path('whenClosed'), 'is required for a time-condition destination');
  };
  c.ringGroups.forEach((g, i) => {
    if (g.noAnswer) checkDestination(g.noAnswer, ['ringGroups', String(i), 'noAnswer'], []);
  });

  // Ring groups whose no-answer destination leads (through time conditions and other ring groups)
  // back to themselves would ring the same phones for ever.
  const ringGroupEdges = new Map<string, Array<{ to: string; at: string }>>();
  c.ringGroups.forEach((g, i) => {
    const edges: Array<{ to: string; at: string }> = [];
    if (g.noAnswer) {
      for (const leaf of leaves(g.noAnswer, ['ringGroups', String(i), 'noAnswer'])) {
        if (leaf.d.type === 'ring-group') edges.push({ to: leaf.d.target, at: ptr(...leaf.at, 'target') });
      }
    }
    ringGroupEdges.set(g.id, edges);
  });
  // One report per cycle, at the first ring group (in configuration order) that is on it.
  const reported = new Set<string>();
  for (const start of ringGroupEdges.keys()) {
    const cycle = findCycle(start, ringGroupEdges);
    const key = cycle ? [...new Set(cycle.names)].sort().join('\u0000') : '';
    if (cycle && !reported.has(key)) {
      reported.add(key);
      add(cycle.at, `loops: ring group ${cycle.names.map((n) => `'${n}'`).join(' → ')}`);
    }
  }

  // Outbound routes.
  c.routes.outbound.forEach((r, i) => {
    const at = (...more: Array<string | number>) => ptr('routes', 'outbound', i, ...more);
    if (r.trunks.length > 0 && r.targets && r.targets.length > 0) {
      add(at('trunks'), 'give either trunks or targets, not both');
    }
    if (r.trunks.length === 0 && (!r.targets || r.targets.length === 0)) {
      add(at('targets'), 'needs at least one trunk or port group');
    }
    r.trunks.forEach((id, j) => {
      if (!trunks.has(id)) add(at('trunks', j), `names unknown trunk '${id}'`);
    });
    firstIndex(
      r.targets ?? [],
      (t) => `${t.type}\u0000${t.id}`,
      (j, p) => add(at('targets', j), `repeats the target at ${at('targets', p)}`),
    );
    (r.targets ?? []).forEach((t, j) => {
      if (t.type === 'trunk' && !trunks.has(t.id))
        add(at('targets', j, 'id'), `names unknown trunk '${t.id}'`);
      if (t.type === 'group') {
        if (!groupIds.has(t.id)) add(at('targets', j, 'id'), `names unknown port group '${t.id}'`);
        else if (!canDialOut(t.id))
          add(at('targets', j, 'id'), `port group '${t.id}' has no line that dials out`);
      }
    });
    if (r.schedule && !timeConditionIds.has(r.schedule.timeCondition)) {
      add(at('schedule', 'timeCondition'), `names unknown time condition '${r.schedule.timeCondition}'`);
    }
  });

  // Inbound routes.
  c.routes.inbound.forEach((r, i) => {
    const at = (...more: Array<string | number>) => ptr('routes', 'inbound', i, ...more);
    const sources = (['trunk', 'line', 'group'] as const).filter((k) => r[k] !== undefined);
    if (sources.length > 1) add(at(sources[1] ?? 'line'), `give only one of trunk, line or group`);
    if (r.line !== undefined) {
      if (!ports.has(r.line)) add(at('line'), `names unknown line or span '${r.line}'`);
      else if (directionOf(r.line) === 'out') add(at('line'), `line '${r.line}' takes no inbound calls`);
    }
    if (r.group !== undefined && !groupIds.has(r.group))
      add(at('group'), `names unknown port group '${r.group}'`);
    if (r.callerId !== undefined) {
      const p = compileDialPattern(r.callerId);
      if (!p.ok) add(at('callerId'), p.error.message);
    }
    checkDestination(r.destination, ['routes', 'inbound', String(i), 'destination'], []);
    // A call from trunk T sent back to T is a hairpin: the far end sends it to us again.
    if (r.trunk !== undefined) {
      for (const leaf of leaves(r.destination, ['routes', 'inbound', String(i), 'destination'])) {
        if (leaf.d.type === 'trunk' && leaf.d.target === r.trunk) {
          add(ptr(...leaf.at, 'target'), `loops: sends calls back to trunk '${r.trunk}' they arrived on`);
        }
      }
    }
  });
  checkTrunkPingPong(c.routes.inbound, add);
  return problems;
}

interface Leaf {
  d: InboundDestination;
  at: string[];
}

/** The destinations a destination can end at, through every time-condition branch. */
function leaves(d: InboundDestination, at: string[], depth = 0): Leaf[] {
  if (d.type !== 'time-condition' || depth > 8) return [{ d, at }];
  return [
    ...(d.whenOpen ? leaves(d.whenOpen, [...at, 'whenOpen'], depth + 1) : []),
    ...(d.whenClosed ? leaves(d.whenClosed, [...at, 'whenClosed'], depth + 1) : []),
  ];
}

/**
 * A cycle through `start` in the ring-group graph: the names round it and the path of the first
 * edge out of `start`, where it is reported.
 */
function findCycle(
  start: string,
  edges: ReadonlyMap<string, ReadonlyArray<{ to: string; at: string }>>,
): { names: string[]; at: string } | undefined {
  const names: string[] = [start];
  const visited = new Set<string>();
  const walk = (node: string): boolean => {
    for (const e of edges.get(node) ?? []) {
      if (e.to === start) {
        names.push(start);
        return true;
      }
      if (visited.has(e.to)) continue;
      visited.add(e.to);
      names.push(e.to);
      if (walk(e.to)) return true;
      names.pop();
    }
    return false;
  };
  for (const first of edges.get(start) ?? []) {
    names.length = 1;
    visited.clear();
    if (first.to === start) return { names: [start, start], at: first.at };
    visited.add(first.to);
    names.push(first.to);
    if (walk(first.to)) return { names, at: first.at };
  }
  return undefined;
}

/**
 * Two trunk-bound routes that pass the same DID to each other's trunk (A→B and B→A) send a call
 * between two systems until one of them gives up: refused at the second route.
 */
function checkTrunkPingPong(
  routes: readonly InboundRoute[],
  add: (field: string, message: string) => void,
): void {
  const sameDid = (a: string, b: string) => a === b || a === '!' || b === '!';
  routes.forEach((r, i) => {
    if (r.trunk === undefined) return;
    for (const leaf of leaves(r.destination, ['routes', 'inbound', String(i), 'destination'])) {
      if (leaf.d.type !== 'trunk' || leaf.d.target === r.trunk) continue;
      const back = routes.findIndex(
        (o, j) =>
          j < i &&
          o.trunk === leaf.d.target &&
          sameDid(o.did, r.did) &&
          leaves(o.destination, []).some((l) => l.d.type === 'trunk' && l.d.target === r.trunk),
      );
      if (back >= 0) {
        add(
          ptr(...leaf.at, 'target'),
          `loops with ${ptr('routes', 'inbound', back)}: trunk '${r.trunk}' → '${leaf.d.target}' → '${r.trunk}'`,
        );
      }
    }
  });
}
