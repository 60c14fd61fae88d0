/**
 * How calls on PSTN ports meet call control, without SIP. Incoming: the PSTN service hands over
 * the port's facts and a small control of the port (answer, release, regenerate a digit in band);
 * call control gives back the sink of that call — the frames the line is to hear, the line's own
 * frames, and the port's events — for as long as the call holds the port. Outgoing: call control
 * asks the service to dial a number on a port group (`PstnDialer`) and hears the outcome.
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

/** The port that carries an outgoing call, once one is seized. */
export interface PstnPortInfo {
  portKey: string;
  lineId: string;
  kind: 'fxo' | 'e1';
  channel: string;
}

/**
 * An outgoing call on a port group, as call control places it (`PstnService.dial`): the service
 * hunts a free port of the group, seizes it and dials, moving on to the next port when one cannot
 * carry the call (glare, no dial tone, a dead line); the call hears only the outcome.
 */
export interface PstnDialHandler {
  /** This tick's 20 ms frame to the line, once answered. */
  frame(): Int16Array | undefined;
  /** The line's 20 ms frame of this tick, once answered. */
  audio(frame: Int16Array): void;
  /**
   * The port got past seizure (dial tone heard and digits going out, or the E1 seizure
   * acknowledged): the far end is being rung. Until then a port that turns out dead still fails
   * over, to the group's next port or, with 503, to the route's next target.
   */
  progressed(port: PstnPortInfo): void;
  /** Answer supervision (polarity reversal, loop current, the E1 answer signal). */
  answered(port: PstnPortInfo): void;
  /** Failed before the answer, with the SIP status it maps to: 486 busy, 480 no answer, 503 congestion or every port busy, 404 a number no line can dial. */
  failed(status: number, reason: string): void;
  /** After the answer: the far end cleared, or the line went away. */
  disconnected(reason: string): void;
}

export interface PstnDialControl {
  /** Give the port back (on hook, or the E1 clear-forward); nothing more is reported. */
  hangup(): void;
  /** A digit from the near party, generated in band on the line. */
  sendDigit(digit: string, durationMs: number): void;
}

export interface PstnDialer {
  dial(group: string, number: string, handler: PstnDialHandler): PstnDialControl;
}
