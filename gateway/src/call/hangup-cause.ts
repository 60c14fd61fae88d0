/**
 * Why a leg ended, in one vocabulary for every technology: the ITU-T Q.850 cause values that
 * ISDN/E1 signalling carries, and the SIP status each maps to (RFC 3398 §7.2.4.1, ISUP cause →
 * SIP response; §8.2.6.1, SIP response → ISUP cause). The names are the Q.850 ones in kebab case;
 * `originator-cancel` (the caller gave up before answer) has no Q.850 value of its own and is told
 * apart because CDRs and reports count abandoned calls separately.
 */

export type HangupCause =
  | 'unallocated-number'
  | 'no-route-to-destination'
  | 'normal-clearing'
  | 'user-busy'
  | 'no-user-response'
  | 'no-answer'
  | 'call-rejected'
  | 'number-changed'
  | 'destination-out-of-order'
  | 'invalid-number-format'
  | 'facility-rejected'
  | 'normal-unspecified'
  | 'no-circuit-available'
  | 'network-out-of-order'
  | 'temporary-failure'
  | 'switching-equipment-congestion'
  | 'bearer-capability-not-available'
  | 'service-unavailable'
  | 'incompatible-destination'
  | 'recovery-on-timer-expiry'
  | 'interworking'
  | 'originator-cancel'
  | 'media-timeout';

interface CauseEntry {
  /** Q.850 cause value (§2.2.5, Table 1); 0 where Q.850 has none. */
  q850: number;
  /** The SIP final status a caller hears for it (RFC 3398 §7.2.4.1). */
  sipStatus: number;
}

export const HANGUP_CAUSES: Readonly<Record<HangupCause, CauseEntry>> = {
  'unallocated-number': { q850: 1, sipStatus: 404 },
  'no-route-to-destination': { q850: 3, sipStatus: 404 },
  'normal-clearing': { q850: 16, sipStatus: 200 },
  'user-busy': { q850: 17, sipStatus: 486 },
  'no-user-response': { q850: 18, sipStatus: 408 },
  'no-answer': { q850: 19, sipStatus: 480 },
  'call-rejected': { q850: 21, sipStatus: 403 },
  'number-changed': { q850: 22, sipStatus: 410 },
  'destination-out-of-order': { q850: 27, sipStatus: 502 },
  'invalid-number-format': { q850: 28, sipStatus: 484 },
  'facility-rejected': { q850: 29, sipStatus: 501 },
  'normal-unspecified': { q850: 31, sipStatus: 480 },
  'no-circuit-available': { q850: 34, sipStatus: 503 },
  'network-out-of-order': { q850: 38, sipStatus: 503 },
  'temporary-failure': { q850: 41, sipStatus: 503 },
  'switching-equipment-congestion': { q850: 42, sipStatus: 503 },
  'bearer-capability-not-available': { q850: 58, sipStatus: 503 },
  'service-unavailable': { q850: 63, sipStatus: 503 },
  'incompatible-destination': { q850: 88, sipStatus: 488 },
  'recovery-on-timer-expiry': { q850: 102, sipStatus: 504 },
  interworking: { q850: 127, sipStatus: 500 },
  'originator-cancel': { q850: 0, sipStatus: 487 },
  // RTP inactivity (RFC 3550 §6.3.5's idea of a silent member, applied to a dead peer).
  'media-timeout': { q850: 0, sipStatus: 408 },
};

/**
 * RFC 3398 §8.2.6.1: the cause a SIP final response maps to, for the CDR and for the PSTN side of a
 * call that failed in SIP. Statuses the table does not name fall back by class (§8.2.6.1: "4xx →
 * 127 interworking", 5xx → 41, 6xx → 31).
 */
export function causeOfSipStatus(status: number): HangupCause {
  switch (status) {
    case 404:
    case 485:
    case 604:
      return 'unallocated-number';
    case 401:
    case 402:
    case 403:
    case 407:
    case 603:
      return 'call-rejected';
    case 408:
    case 504:
      return 'recovery-on-timer-expiry';
    case 410:
      return 'number-changed';
    case 480:
      return 'no-user-response';
    case 484:
      return 'invalid-number-format';
    case 486:
    case 600:
      return 'user-busy';
    case 487:
      return 'originator-cancel';
    case 488:
    case 606:
      return 'incompatible-destination';
    case 501:
      return 'facility-rejected';
    case 502:
      return 'network-out-of-order';
    case 400:
    case 500:
    case 503:
      return 'temporary-failure';
    default:
      if (status >= 200 && status < 300) return 'normal-clearing';
      if (status >= 600) return 'normal-unspecified';
      if (status >= 500) return 'temporary-failure';
      return 'interworking';
  }
}

export function sipStatusOfCause(cause: HangupCause): number {
  return HANGUP_CAUSES[cause].sipStatus;
}

export function q850OfCause(cause: HangupCause): number {
  return HANGUP_CAUSES[cause].q850;
}
