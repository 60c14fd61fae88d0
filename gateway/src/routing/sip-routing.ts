/**
 * Routing for SIP-originated calls — pure policy over the configuration (DESIGN §4.3):
 *   extension → extension            (the dialled number is a local extension)
 *   extension → service              (`*43` echo, `*44` milliwatt, ...)
 *   extension → trunk                (first outbound route whose dial pattern matches, permission allowed)
 *   trunk → extension/trunk/service  (inbound route by DID, optionally restricted to one trunk)
 *   trunk → ring group              (its stages, `ring-group.ts`; the B2BUA rings them)
 * PSTN calls, IVR and queues are routed by `pstn-routing.ts` over the same route data; here a
 * route whose destination this SIP path cannot serve yet answers 503.
 */
import { systemClock } from '../../../base/clock.ts';
import { compileDialPattern, matchesDialPattern, type DialPattern } from './dial-pattern.ts';
import { isEmergencyNumber, permits, type PermissionClass } from './permission.ts';
import { ringGroupStages, type RingGroupSpec, type RingStage } from './ring-group.ts';
import { timeConditionState, type TimeCondition } from './time-condition.ts';

export interface RoutingExtension {
  number: string;
  permission: PermissionClass;
  enabled?: boolean;
  /** May dial `monitor` services. */
  monitor?: boolean;
}

export interface RouteTarget {
  type: 'trunk' | 'group';
  id: string;
}

export interface OutboundRoute {
  id: string;
  pattern: string;
  strip: number;
  prefix: string;
  /** The original form: trunks only. `targets`, when not empty, replaces it. */
  trunks: readonly string[];
  targets?: readonly RouteTarget[];
  permission: PermissionClass;
  /** The most digits of the number sent on; E.164's 15 when not given. */
  maxDigits?: number;
  /** Used only while the named time condition is in this state. */
  schedule?: { timeCondition: string; active: 'open' | 'closed' };
}

/** The ordered targets of a route, whichever form it was written in. */
export function outboundTargets(route: Pick<OutboundRoute, 'trunks' | 'targets'>): RouteTarget[] {
  return route.targets && route.targets.length > 0
    ? [...route.targets]
    : route.trunks.map((id) => ({ type: 'trunk' as const, id }));
}

export const destinationTypes = [
  'extension',
  'trunk',
  'service',
  'ring-group',
  'ivr',
  'queue',
  'time-condition',
  'group',
] as const;

/**
 * A PSTN port group as call control sees it: a trunk `@pstn:<group>` dialled on the group's ports.
 * User trunk ids match `^[a-z0-9-]+$`, so the `@` keeps these ids from naming a configured trunk.
 */
export const PSTN_GROUP_TRUNK_PREFIX = '@pstn:';

export function pstnGroupTrunkId(group: string): string {
  return `${PSTN_GROUP_TRUNK_PREFIX}${group}`;
}
export type DestinationType = (typeof destinationTypes)[number];

/**
 * Where an inbound route sends a call. `time-condition` names its condition in `target` and
 * carries both branches; every other type names its target only.
 */
export interface InboundDestination {
  type: DestinationType;
  target: string;
  whenOpen?: InboundDestination;
  whenClosed?: InboundDestination;
}

export interface InboundRoute {
  id: string;
  trunk?: string;
  line?: string;
  group?: string;
  did: string;
  callerId?: string;
  destination: InboundDestination;
}

export interface RoutingService {
  number: string;
  type: string;
  /** `connect`: the extension it always rings (else dialled after the number). */
  extension?: string;
}

export interface RoutingConfig {
  country: string;
  extensions: readonly RoutingExtension[];
  outbound: readonly OutboundRoute[];
  inbound: readonly InboundRoute[];
  services: readonly RoutingService[];
  timeConditions?: readonly TimeCondition[];
  ringGroups?: readonly (RingGroupSpec & { noAnswer?: InboundDestination })[];
}

/** A ring group as call control rings it: its stages, and where an unanswered call goes next. */
export interface RingGroupPlan {
  id: string;
  stages: RingStage[];
  noAnswer?: Destination;
}

export type Destination =
  | { type: 'extension'; number: string; routeId?: string }
  | { type: 'service'; number: string; service: string; routeId?: string; target?: string }
  | { type: 'trunk'; trunks: string[]; number: string; routeId: string }
  | { type: 'ring-group'; group: RingGroupPlan; routeId?: string }
  | { type: 'reject'; status: number; reason: string };

interface CompiledRoute<R> {
  route: R;
  pattern: DialPattern;
  caller?: DialPattern;
}

/**
 * A routing table compiled from one configuration revision. Patterns that fail to compile were
 * already refused by config validation; here they are skipped defensively.
 */
/** ITU-T E.164 §6: the most digits a public number has, the country code included. */
export const E164_MAX_DIGITS = 15;

export class RoutingTable {
  private readonly outbound: CompiledRoute<OutboundRoute>[];
  private readonly inbound: Array<CompiledRoute<InboundRoute>>;
  private readonly extensions: Map<string, RoutingExtension>;
  private readonly services: Map<string, RoutingService>;

  constructor(
    private readonly cfg: RoutingConfig,
    /** Wall clock for time conditions (injected; the system clock in service). */
    private readonly wallNow: () => number = () => systemClock.wallNow(),
  ) {
    this.outbound = compileAll(cfg.outbound, (r) => r.pattern);
    // Routes bound to a PSTN line or group never match a SIP trunk's call.
    const sipInbound = cfg.inbound.filter((r) => r.line === undefined && r.group === undefined);
    this.inbound = compileAll(sipInbound, (r) => r.did)
      .flatMap((c) => {
        if (c.route.callerId === undefined) return [c];
        const caller = compileDialPattern(c.route.callerId);
        return caller.ok ? [{ ...c, caller: caller.value }] : [];
      })
      // Longer literal DIDs first; among equals, a caller-specific route before a general one.
      .sort(
        (a, b) =>
          b.pattern.specificity - a.pattern.specificity ||
          Number(b.caller !== undefined) - Number(a.caller !== undefined),
      );
    this.extensions = new Map(cfg.extensions.map((e) => [e.number, e]));
    this.services = new Map(cfg.services.map((s) => [s.number, s]));
  }

  extension(number: string): RoutingExtension | undefined {
    const e = this.extensions.get(number);
    return e && e.enabled !== false ? e : undefined;
  }

  /** A call dialled by a local extension. */
  fromExtension(caller: RoutingExtension, dialled: string): Destination {
    const service = this.services.get(dialled);
    if (service) {
      return service.extension === undefined
        ? { type: 'service', number: dialled, service: service.type }
        : { type: 'service', number: dialled, service: service.type, target: service.extension };
    }
    const monitor = this.monitorOf(caller, dialled);
    if (monitor) return monitor;
    const connect = this.connectOf(dialled);
    if (connect) return connect;
    if (this.extensions.has(dialled)) {
      return this.extension(dialled)
        ? { type: 'extension', number: dialled }
        : { type: 'reject', status: 480, reason: 'Temporarily Unavailable' };
    }
    // The first matching route decides. A caller refused by it is not passed on to a later,
    // broader route: `9.` after `900.` must not carry the international calls `900.` refused.
    for (const { route, pattern } of this.outbound) {
      if (!matchesDialPattern(pattern, dialled) || !this.scheduleActive(route)) continue;
      const number = route.prefix + dialled.slice(route.strip);
      // ITU-T E.164 §6: an international number has at most 15 digits (country code included);
      // a longer one reaches nobody and must not seize a line or a trunk channel for it.
      const maxDigits = route.maxDigits ?? E164_MAX_DIGITS;
      if (number.replace(/^\+/, '').length > maxDigits)
        return { type: 'reject', status: 404, reason: `Not Found (more than ${maxDigits} digits)` };
      if (!permits(caller.permission, route.permission) && !isEmergencyNumber(number, this.cfg.country)) {
        // RFC 3261 §21.4.4: 403 when the server understood the request but will not fulfil it.
        return { type: 'reject', status: 403, reason: 'Forbidden (permission class)' };
      }
      const trunks = outboundTargets(route)
        .filter((t) => t.type === 'trunk')
        .map((t) => t.id);
      // A route to PSTN port groups only is carried by the PSTN call path, not by this one.
      if (trunks.length === 0) return { type: 'reject', status: 503, reason: 'Service Unavailable' };
      return { type: 'trunk', trunks, number, routeId: route.id };
    }
    // RFC 3261 §21.4.5: 404 when the number matches nothing we can reach.
    return { type: 'reject', status: 404, reason: 'Not Found' };
  }

  /**
   * A `monitor` service is dialled as its number followed by the extension to monitor (`*451002`);
   * exact service numbers were tried first. Only extensions with `monitor` may use it (403).
   */
  private monitorOf(caller: RoutingExtension, dialled: string): Destination | undefined {
    for (const s of this.services.values()) {
      if (s.type !== 'monitor' || dialled.length <= s.number.length || !dialled.startsWith(s.number))
        continue;
      const target = dialled.slice(s.number.length);
      if (!(caller.monitor ?? this.extensions.get(caller.number)?.monitor))
        return { type: 'reject', status: 403, reason: 'Forbidden (not allowed to monitor)' };
      if (!this.extensions.has(target)) return { type: 'reject', status: 404, reason: 'Not Found' };
      return { type: 'service', number: s.number, service: s.type, target };
    }
    return undefined;
  }

  /**
   * A `connect` service without a fixed extension is dialled as its number followed by the
   * extension (`*481002`): the gateway answers, plays its prompt, then rings that extension.
   */
  private connectOf(dialled: string): Destination | undefined {
    for (const s of this.services.values()) {
      if (s.type !== 'connect' || s.extension !== undefined) continue;
      if (dialled.length <= s.number.length || !dialled.startsWith(s.number)) continue;
      const target = dialled.slice(s.number.length);
      if (!this.extensions.has(target)) return { type: 'reject', status: 404, reason: 'Not Found' };
      return { type: 'service', number: s.number, service: s.type, target };
    }
    return undefined;
  }

  private scheduleActive(route: OutboundRoute): boolean {
    if (!route.schedule) return true;
    const tc = this.cfg.timeConditions?.find((t) => t.id === route.schedule?.timeCondition);
    return tc !== undefined && timeConditionState(tc, this.wallNow()) === route.schedule.active;
  }

  /**
   * A call arriving on a trunk for a DID. Routes that match on the caller's number are considered
   * only when the caller's number is given.
   */
  fromTrunk(trunkId: string, did: string, callerNumber?: string): Destination {
    for (const { route, pattern, caller } of this.inbound) {
      if (route.trunk !== undefined && route.trunk !== trunkId) continue;
      if (!matchesDialPattern(pattern, did)) continue;
      if (caller && (callerNumber === undefined || !matchesDialPattern(caller, callerNumber))) continue;
      return this.destinationOf(route.destination, route.id, did, 0);
    }
    return { type: 'reject', status: 404, reason: 'Not Found' };
  }

  private destinationOf(d: InboundDestination, routeId: string, did: string, depth: number): Destination {
    switch (d.type) {
      case 'extension':
        return { type: 'extension', number: d.target, routeId };
      case 'trunk':
        return { type: 'trunk', trunks: [d.target], number: did, routeId };
      // Out on a PSTN port group, the number as dialled.
      case 'group':
        return { type: 'trunk', trunks: [pstnGroupTrunkId(d.target)], number: did, routeId };
      case 'service': {
        const service = this.services.get(d.target);
        if (!service) return { type: 'reject', status: 404, reason: 'Not Found' };
        return service.extension === undefined
          ? { type: 'service', number: d.target, service: service.type, routeId }
          : { type: 'service', number: d.target, service: service.type, routeId, target: service.extension };
      }
      case 'time-condition': {
        const tc = this.cfg.timeConditions?.find((t) => t.id === d.target);
        const branch = tc && timeConditionState(tc, this.wallNow()) === 'open' ? d.whenOpen : d.whenClosed;
        // Validation refuses a condition nested in itself; the depth bound guards the walk anyway.
        if (!tc || !branch || depth > 8)
          return { type: 'reject', status: 500, reason: 'Server Internal Error' };
        return this.destinationOf(branch, routeId, did, depth + 1);
      }
      case 'ring-group': {
        const group = this.cfg.ringGroups?.find((g) => g.id === d.target);
        // Validation refuses a group whose no-answer path comes back to it; the depth bound guards anyway.
        if (!group || depth > 8) return { type: 'reject', status: 404, reason: 'Not Found' };
        const noAnswer = group.noAnswer
          ? this.destinationOf(group.noAnswer, routeId, did, depth + 1)
          : undefined;
        return {
          type: 'ring-group',
          group: {
            id: group.id,
            stages: ringGroupStages(group),
            ...(noAnswer && noAnswer.type !== 'reject' ? { noAnswer } : {}),
          },
          routeId,
        };
      }
      // The IVR and queues are served by the call applications, not this SIP path.
      case 'ivr':
      case 'queue':
        return { type: 'reject', status: 503, reason: 'Service Unavailable' };
      default: {
        const never: never = d.type;
        return never;
      }
    }
  }
}

function compileAll<R>(routes: readonly R[], patternOf: (r: R) => string): CompiledRoute<R>[] {
  const out: CompiledRoute<R>[] = [];
  for (const route of routes) {
    const p = compileDialPattern(patternOf(route));
    if (p.ok) out.push({ route, pattern: p.value });
  }
  return out;
}
