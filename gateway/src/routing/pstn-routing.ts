/**
 * Routing for PSTN calls — pure policy over one configuration revision (DESIGN §4.3):
 *   outbound: a caller dials; the first outbound route whose pattern matches, whose permission the
 *             caller holds and whose schedule is active gives the ordered targets (trunks and port
 *             groups), the digits to send and the caller ID to present;
 *   inbound:  a call arrives on a line, span or trunk; the most specific inbound route gives the
 *             destination, time conditions resolved with the wall clock of the call.
 * Walking the targets (hunting channels, next target when all are busy) is `hunt.ts`.
 */
import { compileDialPattern, matchesDialPattern, type DialPattern } from './dial-pattern.ts';
import { groupHasMember, type PortGroup, type PstnLine, type PstnSpan, type RouteTarget } from './hunt.ts';
import { isEmergencyNumber, permits, type PermissionClass } from './permission.ts';
import {
  outboundTargets,
  pstnGroupTrunkId,
  type InboundDestination,
  type InboundRoute,
} from './sip-routing.ts';
import { timeConditionState, type TimeCondition, type TimeConditionState } from './time-condition.ts';

export type CallerIdPolicy = 'extension' | 'passthrough' | 'anonymous' | `fixed:${string}`;

export interface PstnOutboundRoute {
  id: string;
  pattern: string;
  strip: number;
  prefix: string;
  trunks: readonly string[];
  targets?: readonly RouteTarget[];
  permission: PermissionClass;
  callerIdPolicy?: CallerIdPolicy;
  schedule?: { timeCondition: string; active: TimeConditionState };
}

export interface RingGroup {
  id: string;
  members: readonly string[];
  strategy: 'ringall' | 'hunt' | 'all' | 'sequential';
  ringTimeoutS: number;
  ringSeconds?: number;
  noAnswer?: InboundDestination;
}

/** The part of the configuration document PSTN routing reads (the validated `Config` fits it). */
export interface PstnRoutingConfig {
  system: { country: string };
  extensions: readonly {
    number: string;
    permission: PermissionClass;
    enabled?: boolean;
    displayName?: string;
  }[];
  services: readonly { number: string; type: string; extension?: string }[];
  routes: { outbound: readonly PstnOutboundRoute[]; inbound: readonly InboundRoute[] };
  pstn: { lines: readonly PstnLine[]; spans: readonly PstnSpan[]; groups: readonly PortGroup[] };
  ringGroups: readonly RingGroup[];
  timeConditions: readonly TimeCondition[];
}

/** Who is calling out: an extension, or a call being forwarded on behalf of its original caller. */
export interface OutboundCaller {
  number: string;
  permission: PermissionClass;
  displayName?: string;
  /** The caller of a forwarded or transferred call, presented by `passthrough`. */
  originalNumber?: string;
  originalName?: string;
}

/**
 * The identity to present. `restricted` keeps the real number for the network's own use (RFC 3325
 * P-Asserted-Identity with RFC 3323 `Privacy: id`; Q.931 presentation indicator "restricted") and
 * hides it from the called party.
 */
export interface PresentedCallerId {
  number: string;
  name?: string;
  presentation: 'allowed' | 'restricted';
}

export type OutboundDecision =
  | {
      type: 'outbound';
      routeId: string;
      /** The digits to send after strip and prefix. */
      number: string;
      targets: RouteTarget[];
      callerId: PresentedCallerId;
      emergency: boolean;
    }
  | { type: 'reject'; status: 403 | 404; reason: string };

const patternCache = new Map<string, DialPattern | null>();

function compiled(source: string): DialPattern | null {
  let p = patternCache.get(source);
  if (p === undefined) {
    const r = compileDialPattern(source);
    p = r.ok ? r.value : null;
    if (patternCache.size > 4096) patternCache.clear();
    patternCache.set(source, p);
  }
  return p;
}

function matches(source: string, digits: string): boolean {
  const p = compiled(source);
  return p !== null && matchesDialPattern(p, digits);
}

function scheduleActive(cfg: PstnRoutingConfig, route: PstnOutboundRoute, wallMs: number): boolean {
  if (!route.schedule) return true;
  const tc = cfg.timeConditions.find((t) => t.id === route.schedule?.timeCondition);
  return tc !== undefined && timeConditionState(tc, wallMs) === route.schedule.active;
}

export function presentCallerId(
  policy: CallerIdPolicy,
  caller: OutboundCaller,
  emergency: boolean,
): PresentedCallerId {
  const own = { number: caller.number, name: caller.displayName };
  if (policy === 'extension') return { ...own, presentation: 'allowed' };
  if (policy === 'passthrough') {
    return {
      number: caller.originalNumber ?? caller.number,
      name: caller.originalNumber !== undefined ? caller.originalName : caller.displayName,
      presentation: 'allowed',
    };
  }
  if (policy === 'anonymous') {
    // Emergency services need a number to call back: caller ID blocking does not apply to calls
    // to them (e.g. US 47 CFR §64.1601(d)(4)(ii)); the extension's own number is shown.
    return { ...own, presentation: emergency ? 'allowed' : 'restricted' };
  }
  return { number: policy.slice('fixed:'.length), presentation: 'allowed' };
}

/**
 * An outbound call from `caller` dialling `dialled` at wall time `wallMs`. Routes are tried in
 * configuration order and the first whose pattern matches and whose schedule is active decides:
 * if the caller lacks its permission class the call is refused (403), never passed on to a later,
 * broader route — otherwise `9.` after `900.` would carry the international calls `900.` refused.
 * Emergency numbers pass every permission class, and if every route that can carry them is out of
 * schedule, the first such route carries them anyway.
 */
export function routeOutbound(
  cfg: PstnRoutingConfig,
  caller: OutboundCaller,
  dialled: string,
  wallMs: number,
): OutboundDecision {
  let emergencyFallback: OutboundDecision | undefined;
  for (const route of cfg.routes.outbound) {
    if (!matches(route.pattern, dialled)) continue;
    const number = route.prefix + dialled.slice(route.strip);
    const emergency = isEmergencyNumber(number, cfg.system.country);
    const decision: OutboundDecision = {
      type: 'outbound',
      routeId: route.id,
      number,
      targets: outboundTargets(route),
      callerId: presentCallerId(route.callerIdPolicy ?? 'extension', caller, emergency),
      emergency,
    };
    if (!scheduleActive(cfg, route, wallMs)) {
      if (emergency) emergencyFallback ??= decision;
      continue;
    }
    if (!emergency && !permits(caller.permission, route.permission)) {
      // RFC 3261 §21.4.4: 403 when the server understood the request but will not fulfil it.
      return { type: 'reject', status: 403, reason: 'Forbidden (permission class)' };
    }
    return decision;
  }
  return emergencyFallback ?? { type: 'reject', status: 404, reason: 'Not Found' };
}

/** Where an inbound call came from: a PSTN line or E1 span, or a SIP trunk. */
export interface InboundCall {
  line?: string;
  trunk?: string;
  /** The dialled number when the network sends one (E1, SIP); an analog line's own number otherwise. */
  did?: string;
  /** The caller's number as received; empty when withheld or unavailable. */
  callerNumber: string;
}

/** The time-condition branches taken to reach a destination, for the CDR and the live view. */
export interface TimeConditionStep {
  timeCondition: string;
  state: TimeConditionState;
}

export type InboundDecision =
  | { type: 'extension'; number: string; routeId: string; via: TimeConditionStep[] }
  | { type: 'ring-group'; group: RingGroup; routeId: string; via: TimeConditionStep[] }
  | { type: 'trunk'; trunk: string; number: string; routeId: string; via: TimeConditionStep[] }
  | {
      type: 'service';
      number: string;
      service: string;
      /** A `connect` service's extension. */
      target?: string;
      routeId: string;
      via: TimeConditionStep[];
    }
  | { type: 'ivr'; id: string; routeId: string; via: TimeConditionStep[] }
  | { type: 'queue'; id: string; routeId: string; via: TimeConditionStep[] }
  | { type: 'reject'; status: number; reason: string; routeId?: string; via: TimeConditionStep[] };

/** Nested time conditions deeper than this are a configuration defect, not a schedule. */
const MAX_DESTINATION_DEPTH = 8;

/**
 * Resolve a destination at wall time `wallMs`: time conditions choose their branch; the rest is
 * looked up. Also used when a ring group times out and its `noAnswer` destination is taken.
 */
export function resolveDestination(
  cfg: PstnRoutingConfig,
  destination: InboundDestination,
  call: InboundCall,
  wallMs: number,
  routeId: string,
): InboundDecision {
  const via: TimeConditionStep[] = [];
  let d = destination;
  for (let depth = 0; depth <= MAX_DESTINATION_DEPTH; depth++) {
    switch (d.type) {
      case 'extension': {
        const ext = cfg.extensions.find((e) => e.number === d.target);
        if (!ext || ext.enabled === false) {
          return { type: 'reject', status: 480, reason: 'Temporarily Unavailable', routeId, via };
        }
        return { type: 'extension', number: d.target, routeId, via };
      }
      case 'ring-group': {
        const group = cfg.ringGroups.find((g) => g.id === d.target);
        return group
          ? { type: 'ring-group', group, routeId, via }
          : { type: 'reject', status: 404, reason: 'Not Found', routeId, via };
      }
      case 'trunk':
        // RFC 3261 §21.4.20 482 Loop Detected: a call is never sent back into the trunk it came in on.
        if (call.trunk === d.target)
          return { type: 'reject', status: 482, reason: 'Loop Detected', routeId, via };
        return { type: 'trunk', trunk: d.target, number: effectiveDid(cfg, call), routeId, via };
      // A tandem call: out on the ports of a PSTN group (a PBX's span out to the lines).
      case 'group':
        return {
          type: 'trunk',
          trunk: pstnGroupTrunkId(d.target),
          number: effectiveDid(cfg, call),
          routeId,
          via,
        };
      case 'service': {
        const service = cfg.services.find((s) => s.number === d.target);
        if (!service) return { type: 'reject', status: 404, reason: 'Not Found', routeId, via };
        return {
          type: 'service',
          number: d.target,
          service: service.type,
          ...(service.extension === undefined ? {} : { target: service.extension }),
          routeId,
          via,
        };
      }
      case 'ivr':
        return { type: 'ivr', id: d.target, routeId, via };
      case 'queue':
        return { type: 'queue', id: d.target, routeId, via };
      case 'time-condition': {
        const tc = cfg.timeConditions.find((t) => t.id === d.target);
        const state = tc ? timeConditionState(tc, wallMs) : 'closed';
        via.push({ timeCondition: d.target, state });
        const next = state === 'open' ? d.whenOpen : d.whenClosed;
        if (!tc || !next)
          return { type: 'reject', status: 500, reason: 'Server Internal Error', routeId, via };
        d = next;
        continue;
      }
      default: {
        const never: never = d.type;
        return never;
      }
    }
  }
  return { type: 'reject', status: 500, reason: 'Server Internal Error', routeId, via };
}

function effectiveDid(cfg: PstnRoutingConfig, call: InboundCall): string {
  if (call.did !== undefined) return call.did;
  if (call.line === undefined) return '';
  return (
    cfg.pstn.lines.find((l) => l.id === call.line)?.number ??
    cfg.pstn.spans.find((s) => s.id === call.line)?.number ??
    ''
  );
}

/**
 * How specific a matching route is, compared left to right:
 *   1. it names a DID (a route for the number dialled beats a route for the line it came on),
 *   2. it names the caller's number,
 *   3. the longer literal DID prefix,
 *   4. the narrower source: a line, then a port group, then a trunk, then any source,
 *   5. the longer literal caller prefix.
 * So line+DID+caller > DID+caller > DID > caller > line > group > anything; ties go to the route
 * written first.
 */
function rank(route: InboundRoute): number[] {
  const didGiven = route.did !== '!';
  const callerGiven = route.callerId !== undefined;
  const source =
    route.line !== undefined ? 3 : route.group !== undefined ? 2 : route.trunk !== undefined ? 1 : 0;
  return [
    Number(didGiven),
    Number(callerGiven),
    didGiven ? (compiled(route.did)?.specificity ?? 0) : 0,
    source,
    callerGiven ? (compiled(route.callerId ?? '')?.specificity ?? 0) : 0,
  ];
}

function compareRank(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (b[i] ?? 0) - (a[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether the route's source, DID and caller criteria all hold for the call. */
export function inboundRouteMatches(cfg: PstnRoutingConfig, route: InboundRoute, call: InboundCall): boolean {
  if (route.trunk !== undefined && route.trunk !== call.trunk) return false;
  if (route.line !== undefined && route.line !== call.line) return false;
  if (
    route.group !== undefined &&
    (call.line === undefined || !groupHasMember(cfg.pstn, route.group, call.line))
  ) {
    return false;
  }
  if (!matches(route.did, effectiveDid(cfg, call))) return false;
  return route.callerId === undefined || matches(route.callerId, call.callerNumber);
}

/** An inbound call: the most specific matching route, its destination resolved at `wallMs`. */
export function routeInbound(cfg: PstnRoutingConfig, call: InboundCall, wallMs: number): InboundDecision {
  let best: { route: InboundRoute; rank: number[] } | undefined;
  for (const route of cfg.routes.inbound) {
    if (!inboundRouteMatches(cfg, route, call)) continue;
    const r = rank(route);
    if (!best || compareRank(r, best.rank) < 0) best = { route, rank: r };
  }
  if (!best) return { type: 'reject', status: 404, reason: 'Not Found', via: [] };
  return resolveDestination(cfg, best.route.destination, call, wallMs, best.route.id);
}
