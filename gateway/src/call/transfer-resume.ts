/**
 * Taking a transferee off hold once a blind transfer completes.
 *
 * Desk phones and softphones hold the other party before they REFER it (RFC 5589 §6 shows the
 * transferor's re-INVITE placing the transferee on hold first). The transferor then leaves, and no
 * one would ever resume the transferee: it stays told sendonly (or recvonly), so one direction of
 * the new conversation is silent. The gateway, which anchored the transferee's leg, sends the
 * re-offer itself: the same stream with a=sendrecv (RFC 3264 §8.4, §8).
 *
 * This is the sans-I/O part: the re-INVITE's outcome and its retries. `SipCall` sends the requests.
 */
import type { TimerHandle, Timers } from '../../../base/clock.ts';
import type { SipResponse } from '../sip/message/types.ts';
import {
  connectionOf,
  directionOf,
  parseSdp,
  serializeSdp,
  withDirection,
  type SdpMedia,
} from '../media/sdp/sdp.ts';

export type ResumeState = 'offering' | 'backoff' | 'done' | 'failed' | 'closed';

export interface TransfereeResumeDeps {
  timers: Timers;
  /** Uniform in [0, 1): the glare back-off's random part. */
  random(): number;
  /**
   * Whether we chose the dialog's Call-ID (we sent its initial INVITE): RFC 3261 §14.1 picks the
   * back-off range by it.
   */
  ownsCallId: boolean;
  /** Another offer/answer exchange is under way on the transferee's leg: ours waits. */
  busy(): boolean;
  /** Send the re-INVITE; `final` gets its final response, or undefined on timeout or transport error. */
  send(final: (res: SipResponse | undefined) => void): void;
  /** A 2xx arrived (already ACKed): the transferee's answer. */
  resumed(res: SipResponse): void;
  /** The transferee cannot be resumed: the call ends (`cause` for the CDR). */
  failed(cause: string): void;
}

/** Glare and busy retries before giving up: a peer that answers 491 forever is broken. */
const MAX_TRIES = 5;
/** How long to wait when another exchange is under way on the leg. */
const BUSY_RETRY_MS = 200;
/** An exchange of the other parties that outlasts an INVITE transaction (Timer B, 32 s) is stuck. */
const MAX_BUSY_WAITS = 32_000 / BUSY_RETRY_MS;

export class TransfereeResume {
  private state: ResumeState = 'offering';
  private tries = 0;
  private busyWaits = 0;
  private timer: TimerHandle | undefined;

  constructor(private readonly deps: TransfereeResumeDeps) {}

  get currentState(): ResumeState {
    return this.state;
  }

  /** Our re-INVITE is outstanding: a re-INVITE from the transferee now gets 491 (RFC 3261 §14.2). */
  get offering(): boolean {
    return this.state === 'offering';
  }

  start(): void {
    this.attempt();
  }

  private transition(to: ResumeState, delayMs = 0): void {
    const allowed: Record<ResumeState, readonly ResumeState[]> = {
      offering: ['offering', 'backoff', 'done', 'failed', 'closed'],
      backoff: ['offering', 'backoff', 'failed', 'closed'],
      done: ['closed'],
      failed: ['closed'],
      closed: [],
    };
    if (!allowed[this.state].includes(to)) throw new Error(`illegal resume transition ${this.state} → ${to}`);
    this.state = to;
    this.timer?.cancel();
    this.timer = undefined;
    switch (to) {
      case 'backoff':
        this.timer = this.deps.timers.start('transfer-resume-backoff', delayMs, () => this.attempt());
        break;
      case 'offering':
      case 'done':
      case 'failed':
      case 'closed':
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown resume state ${String(never)}`);
      }
    }
  }

  private attempt(): void {
    if (this.state !== 'offering' && this.state !== 'backoff') return;
    if (this.deps.busy()) {
      if (++this.busyWaits > MAX_BUSY_WAITS) return this.fail('transfer: transferee not resumed (busy)');
      this.transition('backoff', BUSY_RETRY_MS);
      return;
    }
    if (++this.tries > MAX_TRIES) return this.fail('transfer: transferee not resumed (glare)');
    this.transition('offering');
    this.deps.send((res) => this.onFinal(res));
  }

  private onFinal(res: SipResponse | undefined): void {
    if (this.state !== 'offering') return;
    if (!res) return this.fail('transfer: transferee resume timed out');
    if (res.status >= 200 && res.status < 300) {
      this.transition('done');
      this.deps.resumed(res);
      return;
    }
    if (res.status === 491) {
      this.transition('backoff', this.glareDelayMs());
      return;
    }
    this.fail(`transfer: transferee resume refused (${res.status})`);
  }

  /**
   * RFC 3261 §14.1: "If the UAC is the owner of the Call-ID of the dialog ID (meaning it generated
   * the value), T has a randomly chosen value between 2.1 and 4 seconds in units of 10 ms. If the
   * UAC is not the owner of the Call-ID of the dialog ID, T has a randomly chosen value of between
   * 0 and 2 seconds in units of 10 ms."
   */
  private glareDelayMs(): number {
    const steps = this.deps.ownsCallId ? 190 : 200;
    const base = this.deps.ownsCallId ? 2100 : 0;
    return base + Math.floor(this.deps.random() * (steps + 1)) * 10;
  }

  private fail(cause: string): void {
    this.transition('failed');
    this.deps.failed(cause);
  }

  dump(): { state: ResumeState; tries: number } {
    return { state: this.state, tries: this.tries };
  }

  close(): void {
    if (this.state !== 'closed') this.transition('closed');
  }
}

/**
 * Whether a party is left on hold by the last exchange on its leg: what it sent or what it was
 * sent is not sendrecv, or names the RFC 2543 hold address (RFC 3264 §8.4). Unknown descriptions
 * count as not held.
 */
export function leftOnHold(...descriptions: Array<Buffer | undefined>): boolean {
  return descriptions.some((d) => {
    if (!d) return false;
    const parsed = parseSdp(d);
    if (!parsed.ok) return false;
    const m = parsed.value.media.find((x) => x.type === 'audio' && x.port !== 0);
    if (!m) return false;
    const address = connectionOf(parsed.value, m)?.address.split('/')[0];
    return directionOf(m, parsed.value) !== 'sendrecv' || address === '0.0.0.0' || address === '::';
  });
}

/**
 * The description offered to a transfer target on the transferee's behalf: its last one, made
 * two-way. A held transferee last answered recvonly (or inactive), which would make the target
 * send nothing; the target is offered the conversation the transfer is for.
 */
export function twoWay(sdp: Buffer): Buffer {
  const parsed = parseSdp(sdp);
  if (!parsed.ok) return sdp;
  const index = parsed.value.media.findIndex((m) => m.type === 'audio' && m.port !== 0);
  if (index < 0 || directionOf(parsed.value.media[index] as SdpMedia, parsed.value) === 'sendrecv')
    return sdp;
  return Buffer.from(serializeSdp(withDirection(parsed.value, 'sendrecv', index)));
}
