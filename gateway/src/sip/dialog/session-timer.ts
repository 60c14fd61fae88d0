/**
 * Session timers (RFC 4028): negotiation of Session-Expires / Min-SE on the INVITE (and its
 * refreshes), and the timer that either sends the refresh or tears the session down.
 */
import { err, ok } from '../../../../base/result.ts';
import type { ParseError, Result } from '../../../../base/result.ts';
import type { TimerHandle, Timers } from '../../../../base/clock.ts';
import type { SipRequest, SipResponse } from '../message/types.ts';

export type Refresher = 'uac' | 'uas';

export interface SessionExpires {
  deltaS: number;
  refresher?: Refresher;
}

/**
 * RFC 4028 §4: "the minimum value for the Min-SE header field is 90 seconds" and
 * Session-Expires "MUST NOT be less than 90 seconds".
 */
export const MIN_SE_FLOOR_S = 90;

const stError = (message: string, field: string): ParseError => ({
  code: 'EDGE_ERR_SIP_PARSE',
  message,
  field,
});

/** `Session-Expires = delta-seconds *( SEMI se-params )`, `se-params = refresher-param / generic-param`. */
export function parseSessionExpires(value: string): Result<SessionExpires> {
  const [delta, ...params] = value.split(';').map((p) => p.trim());
  if (delta === undefined || !/^[0-9]{1,10}$/.test(delta))
    return err(stError('bad delta-seconds', 'Session-Expires'));
  const out: SessionExpires = { deltaS: Number(delta) };
  for (const p of params) {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    if (name !== 'refresher') continue;
    const v =
      eq < 0
        ? ''
        : p
            .slice(eq + 1)
            .trim()
            .toLowerCase();
    if (v !== 'uac' && v !== 'uas') return err(stError(`bad refresher '${v}'`, 'Session-Expires'));
    out.refresher = v;
  }
  return ok(out);
}

/** `Min-SE = delta-seconds *(SEMI generic-param)`. */
export function parseMinSe(value: string): Result<number> {
  const delta = value.split(';')[0]?.trim() ?? '';
  if (!/^[0-9]{1,10}$/.test(delta)) return err(stError('bad delta-seconds', 'Min-SE'));
  return ok(Number(delta));
}

export function formatSessionExpires(se: SessionExpires): string {
  return se.refresher ? `${se.deltaS};refresher=${se.refresher}` : String(se.deltaS);
}

function optionTags(headers: SipRequest['headers'], name: string): string[] {
  return headers.getList(name).map((t) => t.trim().toLowerCase());
}

export interface SessionTimerConfig {
  /** The interval we ask for / accept at most (RFC 4028 recommends 1800 s). */
  sessionExpiresS: number;
  /** The smallest interval we accept; never below 90 s. */
  minSeS: number;
}

/** The session timer agreed for a dialog; `refresher` is relative to the INVITE/UPDATE that set it. */
export interface SessionTimerParams {
  intervalS: number;
  refresher: Refresher;
}

export type UasNegotiation =
  | { ok: true; timer: SessionTimerParams | null; headers: [string, string][] }
  | { ok: false; status: 400 | 422; reason: string; headers: [string, string][] };

/**
 * UAS side of RFC 4028 §9 for an INVITE or UPDATE. Returns the headers to put on the 2xx, or the
 * rejection to send.
 */
export function negotiateUas(req: SipRequest, cfg: SessionTimerConfig): UasNegotiation {
  const ourMin = Math.max(MIN_SE_FLOOR_S, cfg.minSeS);
  const seRaw = req.headers.get('session-expires');
  const minRaw = req.headers.get('min-se');
  let theirMin = 0;
  if (minRaw !== undefined) {
    const m = parseMinSe(minRaw);
    if (!m.ok) return { ok: false, status: 400, reason: 'Bad Min-SE', headers: [] };
    theirMin = m.value;
  }
  const uacSupports = optionTags(req.headers, 'supported').includes('timer');
  let interval: number;
  let refresher: Refresher | undefined;
  if (seRaw !== undefined) {
    const se = parseSessionExpires(seRaw);
    if (!se.ok) return { ok: false, status: 400, reason: 'Bad Session-Expires', headers: [] };
    // RFC 4028 §9 applies the rule of §8.1 to the UAS: a Session-Expires below the minimum it
    // accepts is rejected with 422 (Session Interval Too Small), whose Min-SE carries that minimum.
    if (se.value.deltaS < ourMin)
      return {
        ok: false,
        status: 422,
        reason: 'Session Interval Too Small',
        headers: [['Min-SE', String(ourMin)]],
      };
    // §9: "The UAS response MAY reduce its value but MUST NOT set it to a duration lower than the
    // value in the Min-SE header field in the request ... The UAS MUST NOT increase the value".
    interval = Math.min(se.value.deltaS, Math.max(cfg.sessionExpiresS, theirMin, ourMin));
    refresher = se.value.refresher;
  } else {
    // §9: a UAS MAY ask for a session timer the request did not ask for, by putting Session-Expires
    // in the 2xx; we do, to bound dead sessions, at no less than their Min-SE.
    interval = Math.max(cfg.sessionExpiresS, theirMin, ourMin);
  }
  if (!uacSupports) {
    // §9: when the UAC does not support the extension the UAS sets the refresher to 'uas', and
    // sends no Require: timer (the UAC would not understand it).
    return {
      ok: true,
      timer: { intervalS: interval, refresher: 'uas' },
      headers: [['Session-Expires', formatSessionExpires({ deltaS: interval, refresher: 'uas' })]],
    };
  }
  // §9: a refresher parameter in the request is copied to the response unchanged; without one the
  // UAS picks 'uac' or 'uas'. The UAC refreshing is the common choice: it keeps the refreshing with the side that initiated.
  const chosen = refresher ?? 'uac';
  return {
    ok: true,
    timer: { intervalS: interval, refresher: chosen },
    headers: [
      ['Session-Expires', formatSessionExpires({ deltaS: interval, refresher: chosen })],
      // §9: "If the refresher parameter in the Session-Expires header field in the 2xx response has
      // a value of 'uac', the UAS MUST place a Require header field into the response with the value
      // 'timer'." We send it whenever the UAC supports the extension, so both ends run the timer.
      ['Require', 'timer'],
    ],
  };
}

/**
 * UAC side, RFC 4028 §7.1: "a UAC MAY include a Session-Expires header field in any INVITE ... it
 * MUST also include Supported: timer"; Min-SE tells proxies and the UAS our floor.
 */
export function offerUac(cfg: SessionTimerConfig, after422?: SipResponse): [string, string][] {
  let interval = Math.max(cfg.sessionExpiresS, cfg.minSeS, MIN_SE_FLOOR_S);
  let minSe = Math.max(cfg.minSeS, MIN_SE_FLOOR_S);
  if (after422) {
    // §7.4: "the UAC ... SHOULD retry the request ... with a Session-Expires header field ... [no]
    // smaller than the value in the Min-SE header field of the 422" and a Min-SE at least as large.
    const m = parseMinSe(after422.headers.get('min-se') ?? '');
    if (m.ok) {
      interval = Math.max(interval, m.value);
      minSe = Math.max(minSe, m.value);
    }
  }
  return [
    ['Supported', 'timer'],
    ['Session-Expires', String(interval)],
    ['Min-SE', String(minSe)],
  ];
}

/**
 * The timer agreed in a 2xx we received as UAC. §7.2: "If the 2xx response did not contain a
 * Session-Expires header field, there is no session expiration." A Session-Expires without a
 * refresher cannot come from a compliant UAS (§9 makes it mandatory when we sent Supported:
 * timer); we take the refreshing on ourselves so the session stays bounded.
 */
export function fromUacResponse(res: SipResponse): Result<SessionTimerParams | null> {
  const raw = res.headers.get('session-expires');
  if (raw === undefined) return ok(null);
  const se = parseSessionExpires(raw);
  if (!se.ok) return se;
  if (se.value.deltaS < MIN_SE_FLOOR_S) return err(stError('Session-Expires below 90 s', 'Session-Expires'));
  return ok({ intervalS: se.value.deltaS, refresher: se.value.refresher ?? 'uac' });
}

/**
 * RFC 4028 §10: "If the side not performing refreshes does not receive a session refresh request
 * before the session expiration, it SHOULD send a BYE to terminate the session, slightly before
 * the session expiration. The minimum of 32 seconds and one third of the session interval is
 * RECOMMENDED."
 */
export function expiryDelayMs(intervalS: number): number {
  return Math.round((intervalS - Math.min(32, intervalS / 3)) * 1000);
}

export type SessionTimerState = 'running' | 'refresh-due' | 'expired' | 'closed';

export interface SessionTimerOptions {
  timers: Timers;
  intervalS: number;
  /** Whether this side sends the refreshes. */
  localRefresher: boolean;
  onRefreshDue: () => void;
  onExpired: () => void;
}

export interface SessionTimerDump {
  state: SessionTimerState;
  intervalS: number;
  localRefresher: boolean;
  refreshes: number;
}

export class SessionTimer {
  private _state: SessionTimerState = 'running';
  private intervalS: number;
  private localRefresher: boolean;
  private refreshTimer: TimerHandle | null = null;
  private expiryTimer: TimerHandle | null = null;
  private refreshes = 0;

  constructor(private readonly opts: SessionTimerOptions) {
    this.intervalS = opts.intervalS;
    this.localRefresher = opts.localRefresher;
    this.armRunning();
  }

  get state(): SessionTimerState {
    return this._state;
  }

  private transition(to: SessionTimerState): void {
    const from = this._state;
    const allowed: Record<SessionTimerState, readonly SessionTimerState[]> = {
      running: ['running', 'refresh-due', 'expired', 'closed'],
      'refresh-due': ['running', 'expired', 'closed'],
      expired: ['closed'],
      closed: [],
    };
    if (!allowed[from].includes(to)) throw new Error(`session timer: illegal transition ${from} → ${to}`);
    this._state = to;
    switch (to) {
      case 'running':
        this.stopTimers();
        this.armRunning();
        break;
      case 'refresh-due':
        // The expiry timer keeps running: §10 "If the refresher never receives a response to that
        // refresh ... it SHOULD send a BYE request to terminate the session."
        this.refreshTimer = null;
        break;
      case 'expired':
      case 'closed':
        this.stopTimers();
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  private armRunning(): void {
    if (this.localRefresher) {
      // §10: "If UA is the refresher, it SHOULD send a refresh ... when half the session
      // expiration interval has elapsed."
      this.refreshTimer = this.opts.timers.start('session-refresh', (this.intervalS * 1000) / 2, () => {
        this.transition('refresh-due');
        this.opts.onRefreshDue();
      });
    }
    this.expiryTimer = this.opts.timers.start('session-expiry', expiryDelayMs(this.intervalS), () => {
      this.transition('expired');
      this.opts.onExpired();
    });
  }

  private stopTimers(): void {
    this.refreshTimer?.cancel();
    this.expiryTimer?.cancel();
    this.refreshTimer = null;
    this.expiryTimer = null;
  }

  /**
   * A refresh completed (a 2xx to a session refresh request, sent or received): restart, possibly
   * with a new interval or refresher (§10: "the session expiration ... [is] reset").
   */
  refreshed(next?: { intervalS: number; localRefresher: boolean }): void {
    if (this._state === 'expired' || this._state === 'closed') return;
    if (next) {
      this.intervalS = next.intervalS;
      this.localRefresher = next.localRefresher;
    }
    this.refreshes++;
    this.transition('running');
  }

  close(): void {
    if (this._state !== 'closed') this.transition('closed');
  }

  dump(): SessionTimerDump {
    return {
      state: this._state,
      intervalS: this.intervalS,
      localRefresher: this.localRefresher,
      refreshes: this.refreshes,
    };
  }
}
