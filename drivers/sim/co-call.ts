/**
 * A call through the simulated office: a calling party, a called party and, once answered, a
 * speech path that carries each party's audio to the other every 20 ms.
 */
import type { CallState, ClearCause, CoCallLike, DisconnectMode, Party } from './co-types.ts';

export class CoCall implements CoCallLike {
  private current: CallState = 'alerting';
  private called: Party | null = null;
  endedBy: string | null = null;
  endCause: ClearCause | 'busy' | 'congestion' | null = null;

  constructor(
    readonly id: string,
    readonly caller: Party,
    private readonly onEnd: (call: CoCall) => void,
  ) {}

  get state(): CallState {
    return this.current;
  }

  get calledParty(): Party | null {
    return this.called;
  }

  setCalled(party: Party): void {
    this.called = party;
  }

  alerting(): void {
    if (this.current === 'alerting') this.caller.alerting();
  }

  answer(): void {
    if (this.current !== 'alerting') return;
    this.current = 'connected';
    this.caller.answered();
  }

  reject(cause: 'busy' | 'congestion'): void {
    if (this.current === 'ended') return;
    this.end(this.called?.label ?? 'office', cause);
    this.caller.rejected(cause);
  }

  clear(by: Party, cause: ClearCause = 'normal', disconnect?: DisconnectMode): void {
    if (this.current === 'ended') return;
    this.end(by.label, cause);
    const other = by === this.caller ? this.called : this.caller;
    other?.cleared(cause, disconnect);
  }

  /** One tick of the speech path: both parties talk, then both hear the other. */
  exchange(): void {
    const called = this.called;
    if (this.current !== 'connected' || !called) return;
    const fromCaller = this.caller.talk();
    const fromCalled = called.talk();
    called.hear(fromCaller);
    this.caller.hear(fromCalled);
  }

  dump(): { id: string; state: CallState; caller: string; called: string | null; endedBy: string | null } {
    return {
      id: this.id,
      state: this.current,
      caller: this.caller.label,
      called: this.called?.label ?? null,
      endedBy: this.endedBy,
    };
  }

  private end(by: string, cause: ClearCause | 'busy' | 'congestion'): void {
    this.current = 'ended';
    this.endedBy = by;
    this.endCause = cause;
    this.onEnd(this);
  }
}
