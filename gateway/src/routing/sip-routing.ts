/**
 * Routing for SIP-originated calls — pure policy over the configuration (DESIGN §4.3):
 *   extension → extension            (the dialled number is a local extension)
 *   extension → service              (`*43` echo, `*44` milliwatt, ...)
 *   extension → trunk                (first outbound route whose dial pattern matches, permission allowed)
 *   trunk → extension/trunk/service  (inbound route by DID, optionally restricted to one trunk)
 * PSTN, IVR and queue routes extend the same `Destination` union later.
 */
import { compileDialPattern, matchesDialPattern, type DialPattern } from './dial-pattern.ts';
import { isEmergencyNumber, permits, type PermissionClass } from './permission.ts';

export interface RoutingExtension {
  number: string;
  permission: PermissionClass;
  enabled?: boolean;
}

export interface OutboundRoute {
  id: string;
  pattern: string;
  strip: number;
  prefix: string;
  trunks: string[];
  permission: PermissionClass;
}

export type InboundDestination =
  | { type: 'extension'; target: string }
  | { type: 'trunk'; target: string }
  | { type: 'service'; target: string };

export interface InboundRoute {
  id: string;
  trunk?: string;
  did: string;
  destination: InboundDestination;
}

export interface RoutingService {
  number: string;
  type: string;
}

export interface RoutingConfig {
  country: string;
  extensions: readonly RoutingExtension[];
  outbound: readonly OutboundRoute[];
  inbound: readonly InboundRoute[];
  services: readonly RoutingService[];
}

export type Destination =
  | { type: 'extension'; number: string; routeId?: string }
  | { type: 'service'; number: string; service: string; routeId?: string }
  | { type: 'trunk'; trunks: string[]; number: string; routeId: string }
  | { type: 'reject'; status: number; reason: string };

interface CompiledRoute<R> {
  route: R;
  pattern: DialPattern;
}

/**
 * A routing table compiled from one configuration revision. Patterns that fail to compile were
 * already refused by config validation; here they are skipped defensively.
 */
export class RoutingTable {
  private readonly outbound: CompiledRoute<OutboundRoute>[];
  private readonly inbound: CompiledRoute<InboundRoute>[];
  private readonly extensions: Map<string, RoutingExtension>;
  private readonly services: Map<string, RoutingService>;

  constructor(private readonly cfg: RoutingConfig) {
    this.outbound = compileAll(cfg.outbound, (r) => r.pattern);
    this.inbound = compileAll(cfg.inbound, (r) => r.did).sort(
      (a, b) => b.pattern.specificity - a.pattern.specificity,
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
    if (service) return { type: 'service', number: dialled, service: service.type };
    if (this.extensions.has(dialled)) {
      return this.extension(dialled)
        ? { type: 'extension', number: dialled }
        : { type: 'reject', status: 480, reason: 'Temporarily Unavailable' };
    }
    let forbidden = false;
    for (const { route, pattern } of this.outbound) {
      if (!matchesDialPattern(pattern, dialled)) continue;
      const number = route.prefix + dialled.slice(route.strip);
      if (!permits(caller.permission, route.permission) && !isEmergencyNumber(number, this.cfg.country)) {
        forbidden = true;
        continue;
      }
      return { type: 'trunk', trunks: route.trunks, number, routeId: route.id };
    }
    // RFC 3261 §21.4.4: 403 when the server understood but will not fulfil it; 404 when the
    // number matches nothing we can reach.
    return forbidden
      ? { type: 'reject', status: 403, reason: 'Forbidden (permission class)' }
      : { type: 'reject', status: 404, reason: 'Not Found' };
  }

  /** A call arriving on a trunk for a DID. */
  fromTrunk(trunkId: string, did: string): Destination {
    for (const { route, pattern } of this.inbound) {
      if (route.trunk !== undefined && route.trunk !== trunkId) continue;
      if (!matchesDialPattern(pattern, did)) continue;
      const d = route.destination;
      switch (d.type) {
        case 'extension':
          return { type: 'extension', number: d.target, routeId: route.id };
        case 'trunk':
          return { type: 'trunk', trunks: [d.target], number: did, routeId: route.id };
        case 'service': {
          const service = this.services.get(d.target);
          return service
            ? { type: 'service', number: d.target, service: service.type, routeId: route.id }
            : { type: 'reject', status: 404, reason: 'Not Found' };
        }
        default: {
          const never: never = d;
          return never;
        }
      }
    }
    return { type: 'reject', status: 404, reason: 'Not Found' };
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
