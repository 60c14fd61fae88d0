/**
 * How a call that rings on a PSTN port reaches call control, without SIP: the PSTN service hands
 * over the port's facts and a small control of the port (answer, release, regenerate a digit in
 * band); call control gives back the sink of that call — the frames the line is to hear, the
 * line's own frames, and the port's events — for as long as the call holds the port.
 */
import type { Result } from '../../../base/result.ts';
import type { PortEvent } from './pstn-port.ts';

export interface PstnIncoming {
  /** The port: its hunt key (`fxo1`, `e1-1/5`), its configured line or span, its kind. */
  portKey: string;
  lineId: string;
  kind: 'fxo' | 'e1';
  /** The card channel, for the records (`sim0/3`). */
  channel: string;
  /** The caller as the line presented it ('' when withheld or not sent). */
  callerNumber: string;
  callerName: string | null;
  /** The number dialled: the DID an E1 span received, else the line's own number ('' if none). */
  called: string;
  control: PstnPortControl;
}

export interface PstnPortControl {
  /** Off hook (FXO) or answer signal (E1); an error when the line no longer rings. */
  answer(): Result<void>;
  /**
   * The call gives the port back. An answered port is hung up; an unanswered FXO line cannot refuse
   * a call and rings on until the caller gives up, no new call offered meanwhile; an E1 timeslot
   * is cleared.
   */
  release(answered: boolean): void;
  /** A digit from the far party, regenerated in band on the line (Q.23/Q.24 timing). */
  sendDigit(digit: string, durationMs: number): void;
}

export interface PstnCallSink {
  /** This tick's 20 ms frame to the line (a view valid until the next call), or undefined. */
  frame(): Int16Array | undefined;
  /** The line's 20 ms frame of this tick. */
  audio(frame: Int16Array): void;
  /** What the port signalled while the call holds it (answer, far-end disconnect, release, fault). */
  portEvent(ev: PortEvent): void;
}

/** Call control's side: takes an incoming call, or declines it (undefined). */
export interface PstnCallControl {
  incoming(call: PstnIncoming): PstnCallSink | undefined;
}
