/**
 * RFC 4733 telephone-events (DTMF named events of RFC 4733 §3 / RFC 4734): the payload format,
 * a receiver that reports each digit once, and a sender that plans the packets of one digit.
 *
 * RFC 4733 §2.3 payload format:
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     event     |E|R| volume    |          duration             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Both sides are sans-I/O: the receiver takes parsed RTP header fields and the payload bytes, and
 * waits on the injected `Timers` only to end an event whose end packets were all lost; the sender
 * returns header-field values and payload bytes that the stream writes with its own sequence
 * numbers and SSRC.
 */
import type { TimerHandle, Timers } from '../../../../base/clock.ts';
import { err, ok, type ParseError, type Result } from '../../../../base/result.ts';
import type { ErrorCode } from '../../../../base/error-codes.ts';
import { digitForEvent, eventForDigit, type DtmfDigit } from '../../../../base/signal/dtmf-digits.ts';

export const TELEPHONE_EVENT_BYTES = 4;
/** RFC 4733 §2.3.5: the duration field is 16 bits; longer events are cut into segments. */
export const MAX_SEGMENT_DURATION = 0xffff;

export interface TelephoneEvent {
  event: number;
  end: boolean;
  /** Power level of the tone, as the positive number of dB below 0 dBm0 (0–63). */
  volume: number;
  /** Timestamp units since the event (or segment) began. */
  duration: number;
}

const fail = (code: ErrorCode, message: string, field: string): { ok: false; error: ParseError } =>
  err({ code, message, field });

/**
 * Parse every 4-byte event report in a payload. More than one appears only when a sender packs
 * several events (RFC 4733 §2.5.1.5) or with RFC 2198 redundancy unwrapped by the caller.
 */
export function parseTelephoneEvents(payload: Uint8Array): Result<TelephoneEvent[]> {
  if (payload.length < TELEPHONE_EVENT_BYTES)
    return fail(
      'EDGE_ERR_DTMF_TRUNCATED',
      `${payload.length} bytes is shorter than one 4-byte telephone-event`,
      'payload',
    );
  if (payload.length % TELEPHONE_EVENT_BYTES !== 0)
    return fail(
      'EDGE_ERR_DTMF_LENGTH',
      `${payload.length} bytes is not a multiple of the 4-byte telephone-event`,
      'payload',
    );
  const events: TelephoneEvent[] = [];
  for (let at = 0; at < payload.length; at += TELEPHONE_EVENT_BYTES) {
    const b1 = payload[at + 1] ?? 0;
    events.push({
      event: payload[at] ?? 0,
      // RFC 4733 §2.3.2 "E: If set to a value of one, the "end" bit indicates that this packet
      // contains the end of the event."
      end: (b1 & 0x80) !== 0,
      // RFC 4733 §2.3.3 "R: This field is reserved for future use. The sender MUST set it to
      // zero, and the receiver MUST ignore it."
      volume: b1 & 0x3f,
      duration: ((payload[at + 2] ?? 0) << 8) | (payload[at + 3] ?? 0),
    });
  }
  return ok(events);
}

/** Write one event report at `offset`; returns the bytes written (4). */
export function writeTelephoneEvent(buf: Uint8Array, offset: number, ev: TelephoneEvent): number {
  buf[offset] = ev.event & 0xff;
  buf[offset + 1] = (ev.end ? 0x80 : 0) | (ev.volume & 0x3f);
  const d = Math.min(Math.max(0, Math.round(ev.duration)), MAX_SEGMENT_DURATION);
  buf[offset + 2] = d >> 8;
  buf[offset + 3] = d & 0xff;
  return TELEPHONE_EVENT_BYTES;
}

export function buildTelephoneEvent(ev: TelephoneEvent): Uint8Array {
  const buf = new Uint8Array(TELEPHONE_EVENT_BYTES);
  writeTelephoneEvent(buf, 0, ev);
  return buf;
}

/** RTP timestamps are compared in serial-number arithmetic (RFC 3550 §5.1: they wrap). */
function tsDiff(a: number, b: number): number {
  return (a - b) | 0;
}

// ---------------------------------------------------------------------------------------------
// Receiver
// ---------------------------------------------------------------------------------------------

/** The RTP header fields the receiver needs (from `parseRtp`). */
export interface TelephoneEventHeader {
  marker: boolean;
  timestamp: number;
  sequenceNumber: number;
}

export type DtmfEndReason = 'end-bit' | 'interrupted' | 'timeout' | 'closed';

/**
 * A digit is reported as one `begin` (as soon as its first packet arrives: barge-in, digit
 * collection) and one `end` (with its duration). Each is emitted exactly once per event,
 * whatever the network does to the packets.
 */
export type DtmfEvent =
  | { type: 'begin'; digit: DtmfDigit; event: number; timestamp: number }
  | {
      type: 'end';
      digit: DtmfDigit;
      event: number;
      timestamp: number;
      durationSamples: number;
      durationMs: number;
      reason: DtmfEndReason;
    };

export interface Rfc4733ReceiverOptions {
  timers: Timers;
  onEvent: (ev: DtmfEvent) => void;
  /** The telephone-event clock rate from SDP (`a=rtpmap:101 telephone-event/8000`). */
  clockRateHz?: number;
  /** Silence after which an event whose end packets were all lost is ended. */
  endTimeoutMs?: number;
}

export type Rfc4733ReceiverState = 'idle' | 'in-event' | 'closed';

interface CurrentEvent {
  event: number;
  digit: DtmfDigit;
  /** Timestamp of the event's first segment (reported to the application). */
  startTimestamp: number;
  /** Timestamp of the segment now in progress (RFC 4733 §2.5.1.3). */
  segmentTimestamp: number;
  /** Duration of the segments before the current one. */
  previousSegmentsDuration: number;
  segmentDuration: number;
}

export interface Rfc4733ReceiverDump {
  state: Rfc4733ReceiverState;
  current: { digit: DtmfDigit; startTimestamp: number; durationSamples: number } | null;
  lastEndedTimestamp: number | null;
  digits: number;
  duplicates: number;
  late: number;
  ignoredEvents: number;
  malformed: number;
}

export class Rfc4733Receiver {
  private state: Rfc4733ReceiverState = 'idle';
  private current: CurrentEvent | undefined;
  private lastEndedTimestamp: number | undefined;
  private endTimer: TimerHandle | undefined;
  private readonly clockRateHz: number;
  private readonly endTimeoutMs: number;
  private counts = { digits: 0, duplicates: 0, late: 0, ignoredEvents: 0, malformed: 0 };

  constructor(private readonly opts: Rfc4733ReceiverOptions) {
    this.clockRateHz = opts.clockRateHz ?? 8000;
    this.endTimeoutMs = opts.endTimeoutMs ?? 500;
  }

  /**
   * Feed one telephone-event RTP packet. Malformed payloads are returned as errors (the caller
   * counts them); everything else, including duplicates and late packets, is absorbed here.
   */
  receive(header: TelephoneEventHeader, payload: Uint8Array): Result<void> {
    if (this.state === 'closed') return ok(undefined);
    const parsed = parseTelephoneEvents(payload);
    if (!parsed.ok) {
      this.counts.malformed++;
      return parsed;
    }
    // RFC 4733 §2.5.1.5: when several events share a packet, the earlier ones are events that
    // already ended; the last report is the one this packet's timestamp is about.
    const report = parsed.value[parsed.value.length - 1];
    if (report) this.onReport(header.timestamp >>> 0, report);
    return ok(undefined);
  }

  private onReport(ts: number, report: TelephoneEvent): void {
    const digit = digitForEvent(report.event);
    if (digit === undefined) {
      // RFC 4733 §2.5.2: a receiver acts only on the events it supports and ignores the others
      // (here: named events above flash, e.g. the fax and modem tones of RFC 4734 §3).
      this.counts.ignoredEvents++;
      return;
    }
    const cur = this.current;
    switch (this.state) {
      case 'in-event': {
        if (!cur) return;
        const d = tsDiff(ts, cur.segmentTimestamp);
        if (d === 0) {
          // RFC 4733 §2.5.1.2: updates of an event in progress keep the timestamp of its first
          // packet and carry a growing duration; a report with a smaller duration is a
          // reordered older update.
          if (report.event !== cur.event) {
            this.counts.late++;
            return;
          }
          if (report.duration > cur.segmentDuration) cur.segmentDuration = report.duration;
          if (report.end) this.finish('end-bit');
          else this.armEndTimer();
          return;
        }
        if (d < 0) {
          // A packet of an earlier segment or event, overtaken by newer ones.
          this.counts.late++;
          return;
        }
        // RFC 4733 §2.5.1.3: a long-duration event continues in a new segment whose timestamp
        // is the previous segment's plus the maximum duration (0xFFFF), same event code.
        if (report.event === cur.event && d === MAX_SEGMENT_DURATION) {
          cur.previousSegmentsDuration += MAX_SEGMENT_DURATION;
          cur.segmentTimestamp = ts;
          cur.segmentDuration = report.duration;
          if (report.end) this.finish('end-bit');
          else this.armEndTimer();
          return;
        }
        // RFC 4733 §2.5.2.2 (receiver): a packet with a new timestamp begins a new event; the one
        // in progress is over even though its end packets never arrived.
        this.finish('interrupted');
        this.begin(ts, report, digit);
        return;
      }
      case 'idle': {
        const last = this.lastEndedTimestamp;
        if (last !== undefined && tsDiff(ts, last) <= 0) {
          // RFC 4733 §2.5.1.4: "The final packet for each event and for each segment SHOULD be
          // sent a total of three times"; the copies after the first, and late updates of the
          // ended event, are absorbed.
          if (ts === last) this.counts.duplicates++;
          else this.counts.late++;
          return;
        }
        this.begin(ts, report, digit);
        return;
      }
      case 'closed':
        return;
      default: {
        const never: never = this.state;
        throw new Error(`unreachable receiver state ${String(never)}`);
      }
    }
  }

  private begin(ts: number, report: TelephoneEvent, digit: DtmfDigit): void {
    // RFC 4733 §2.5.2.2: the first packet seen for an event may be any of them (the initial
    // packet, with the marker bit, can be lost): the event starts at the packet's timestamp.
    this.current = {
      event: report.event,
      digit,
      startTimestamp: ts,
      segmentTimestamp: ts,
      previousSegmentsDuration: 0,
      segmentDuration: report.duration,
    };
    this.transition('in-event');
    this.counts.digits++;
    this.opts.onEvent({ type: 'begin', digit, event: report.event, timestamp: ts });
    if (report.end) this.finish('end-bit');
  }

  private finish(reason: DtmfEndReason): void {
    const cur = this.current;
    if (!cur) return;
    const durationSamples = cur.previousSegmentsDuration + cur.segmentDuration;
    this.lastEndedTimestamp = cur.segmentTimestamp;
    this.current = undefined;
    this.transition(reason === 'closed' ? 'closed' : 'idle');
    this.opts.onEvent({
      type: 'end',
      digit: cur.digit,
      event: cur.event,
      timestamp: cur.startTimestamp,
      durationSamples,
      durationMs: (durationSamples * 1000) / this.clockRateHz,
      reason,
    });
  }

  private armEndTimer(): void {
    this.endTimer?.cancel();
    this.endTimer = this.opts.timers.start('dtmf-end', this.endTimeoutMs, () => {
      this.endTimer = undefined;
      if (this.state === 'in-event') this.finish('timeout');
    });
  }

  private transition(to: Rfc4733ReceiverState): void {
    const from = this.state;
    const legal =
      (from === 'idle' && (to === 'in-event' || to === 'closed')) ||
      (from === 'in-event' && (to === 'idle' || to === 'closed'));
    if (!legal) throw new Error(`illegal RFC 4733 receiver transition ${from} -> ${to}`);
    this.state = to;
    switch (to) {
      case 'in-event':
        this.armEndTimer();
        break;
      case 'idle':
      case 'closed':
        this.endTimer?.cancel();
        this.endTimer = undefined;
        break;
      default: {
        const never: never = to;
        throw new Error(`unreachable receiver state ${String(never)}`);
      }
    }
  }

  /** Ends a digit in progress (reported with reason `closed`) and stops the timer. */
  close(): void {
    if (this.state === 'in-event') this.finish('closed');
    else if (this.state === 'idle') this.transition('closed');
  }

  dump(): Rfc4733ReceiverDump {
    const cur = this.current;
    return {
      state: this.state,
      current: cur
        ? {
            digit: cur.digit,
            startTimestamp: cur.startTimestamp,
            durationSamples: cur.previousSegmentsDuration + cur.segmentDuration,
          }
        : null,
      lastEndedTimestamp: this.lastEndedTimestamp ?? null,
      ...this.counts,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------------------------

/** One packet to send: RTP header fields (sequence number and SSRC are the stream's) + payload. */
export interface TelephoneEventPacket {
  /** When to send it, in ms after the digit began. */
  atMs: number;
  marker: boolean;
  timestamp: number;
  payload: Uint8Array;
  /** The report the payload carries, for logs and tests. */
  report: TelephoneEvent;
}

export interface DigitPlanOptions {
  digit: string;
  durationMs: number;
  /** RTP timestamp of the instant the digit begins, on the stream's clock. */
  timestamp: number;
  /** dB below 0 dBm0 (RFC 4733 §2.3.4); 10 is what phones commonly send. */
  volume?: number;
  clockRateHz?: number;
  /** Update interval: RFC 4733 §2.5.1.2 suggests 50 ms. */
  updateIntervalMs?: number;
  /** Packet time of the stream: the first packet reports one packet's worth of tone. */
  ptimeMs?: number;
}

/**
 * Every packet of one digit of known duration, in send order.
 *
 * RFC 4733 §2.5.1.2: the RTP timestamp of every packet of an event is the instant the event
 * began; the first packet carries the marker bit; updates repeat the timestamp with the duration
 * so far. §2.5.1.4: "The final packet for each event and for each segment SHOULD be sent
 * a total of three times at the interval used by the source for updates." §2.5.1.3: an event
 * longer than 0xFFFF timestamp units is sent as segments, each ending with a 0xFFFF report
 * without the E bit; the next segment's timestamp is the previous one plus 0xFFFF.
 */
export function planDigitPackets(opts: DigitPlanOptions): Result<TelephoneEventPacket[]> {
  const event = eventForDigit(opts.digit);
  if (event === undefined) return fail('EDGE_ERR_DTMF_DIGIT', `'${opts.digit}' is not a DTMF digit`, 'digit');
  if (!(opts.durationMs > 0) || !Number.isFinite(opts.durationMs))
    return fail('EDGE_ERR_DTMF_DURATION', `duration ${opts.durationMs} ms is not positive`, 'durationMs');
  const rate = opts.clockRateHz ?? 8000;
  const perMs = rate / 1000;
  const volume = Math.min(63, Math.max(0, Math.round(opts.volume ?? 10)));
  const interval = Math.round((opts.updateIntervalMs ?? 50) * perMs);
  const ptime = Math.round((opts.ptimeMs ?? 20) * perMs);
  const total = Math.max(1, Math.round(opts.durationMs * perMs));
  const ts0 = opts.timestamp >>> 0;
  const packets: { at: number; order: number; pkt: TelephoneEventPacket }[] = [];
  const add = (at: number, segment: number, duration: number, end: boolean): void => {
    const report: TelephoneEvent = { event, end, volume, duration };
    packets.push({
      at,
      order: packets.length,
      pkt: {
        atMs: at / perMs,
        marker: packets.length === 0,
        timestamp: (ts0 + segment * MAX_SEGMENT_DURATION) >>> 0,
        payload: buildTelephoneEvent(report),
        report,
      },
    });
  };
  for (let t = 0; t < total; t += interval) {
    const segment = Math.floor(t / MAX_SEGMENT_DURATION);
    const sofar = t - segment * MAX_SEGMENT_DURATION;
    add(t, segment, t === 0 ? Math.min(ptime, total) : Math.max(sofar, 1), false);
  }
  const lastSegment = Math.floor((total - 1) / MAX_SEGMENT_DURATION);
  for (let s = 0; s < lastSegment; s++) {
    const boundary = (s + 1) * MAX_SEGMENT_DURATION;
    for (let k = 0; k < 3; k++) add(boundary + k * interval, s, MAX_SEGMENT_DURATION, false);
  }
  const finalDuration = total - lastSegment * MAX_SEGMENT_DURATION;
  for (let k = 0; k < 3; k++) add(total + k * interval, lastSegment, finalDuration, true);
  packets.sort((a, b) => a.at - b.at || a.order - b.order);
  return ok(packets.map((p) => p.pkt));
}
