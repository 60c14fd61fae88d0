/**
 * The leg state machine drawn in `leg.ts`, as an edge table and one guarded `transition`. Every
 * implementation (SIP, PSTN, local) moves its leg through this class only, so an app sees the same
 * states in the same order whatever the technology, and an illegal edge (answered → alerting, a
 * second end) is refused instead of silently corrupting the call.
 */
import { err, ok, type Result } from '../../../base/result.ts';
import type { Clock } from '../../../base/clock.ts';
import type { TypedEmitter } from '../core/typed-emitter.ts';
import type { CallFailure, LegEnd, LegEvents, LegState } from './leg.ts';

/**
 * Allowed edges. `alerting` ↔ `early`: RFC 3261 §13.2.2.1 lets any number of provisional responses
 * arrive in any order (a 180 after a 183 carrying early media, RFC 3960 §3); answer may come from
 * any pre-answer state, and `ended` from every state but itself.
 */
const EDGES: Readonly<Record<LegState, readonly LegState[]>> = {
  offered: ['alerting', 'early', 'answered', 'ended'],
  alerting: ['early', 'answered', 'ended'],
  early: ['alerting', 'answered', 'ended'],
  answered: ['ended'],
  ended: [],
};

export function isLegalEdge(from: LegState, to: LegState): boolean {
  return EDGES[from].includes(to);
}

export class LegStateMachine {
  private current: LegState = 'offered';
  private endInfo: LegEnd | undefined;
  private answeredAtMs: number | null = null;

  constructor(
    private readonly events: TypedEmitter<LegEvents>,
    private readonly clock: Clock,
  ) {}

  get state(): LegState {
    return this.current;
  }

  get end(): LegEnd | undefined {
    return this.endInfo;
  }

  get answeredAt(): number | null {
    return this.answeredAtMs;
  }

  /**
   * Move to `to` (not `ended`: use `finish`). A repeat of the current pre-answer state (a second
   * 180) is accepted without an event, since provisional responses may repeat.
   */
  transition(to: Exclude<LegState, 'ended'>): Result<void, CallFailure> {
    const from = this.current;
    if (from === to && to !== 'answered') return ok(undefined);
    if (!isLegalEdge(from, to)) {
      return err({
        code: from === 'ended' ? 'EDGE_ERR_CALL_LEG_ENDED' : 'EDGE_ERR_CALL_LEG_STATE',
        sipStatus: 500,
        cause: 'interworking',
        message: `leg cannot go from ${from} to ${to}`,
      });
    }
    this.current = to;
    if (to === 'answered') this.answeredAtMs = this.clock.wallNow();
    this.events.emit('state', to, from);
    return ok(undefined);
  }

  /** End the leg once; later ends are ignored and return false (the first cause is the true one). */
  finish(end: Omit<LegEnd, 'atMs'>): boolean {
    if (this.current === 'ended') return false;
    const from = this.current;
    this.current = 'ended';
    this.endInfo = { ...end, atMs: this.clock.wallNow() };
    this.events.emit('state', 'ended', from);
    this.events.emit('ended', this.endInfo);
    return true;
  }
}
