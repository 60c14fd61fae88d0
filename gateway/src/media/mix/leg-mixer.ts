/**
 * One mixing room of a relay worker: the legs of a conference, or the two legs of a monitored call
 * and their supervisor. Sans-I/O: received RTP goes in (`receive`), one 20 ms frame per member
 * comes out per tick of the worker's frame clock (`tick`), handed to each member's `send`.
 *
 * Each member's G.711 payload is decoded by that member's own negotiated payload types into a
 * `JitterBuffer` (reordering, loss concealment, adaptive delay); every tick one frame per member is
 * pulled, the `Conference` mixes (N−1, supervisor roles), and each member's output is encoded by
 * its own leg in the law that leg receives: µ-law and A-law members share a room.
 */
import type { Clock } from '../../../../base/clock.ts';
import { err, ok, type ParseError, type Result } from '../../../../base/result.ts';
import { JitterBuffer, type JitterBufferDump, type JitterBufferOptions } from '../jitter/jitter-buffer.ts';
import { decodeInto, payloadKind, type LegPayloadMap } from '../codec/leg-codecs.ts';
import { Conference, type ConferenceDump, type MixRole } from './mixer.ts';
import { FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import type { RtpView } from '../rtp/rtp-packet.ts';

export interface MixMemberOptions {
  role: MixRole;
  /** For `whisper`: the leg that hears the supervisor (the agent). */
  whisperTo?: number;
  codecs: LegPayloadMap;
  /** Sends one frame on the member's leg (`RelayLeg.sendFrame`): the leg encodes it. */
  send: (frame: Int16Array) => void;
}

export interface MixRoomOptions {
  clock: Clock;
  maxMembers: number;
  jitter?: JitterBufferOptions;
}

export interface MixRoomDump {
  id: string;
  ticks: number;
  mixer: ConferenceDump;
  members: Array<{
    legId: number;
    /** Packets not mixed: not whole 20 ms G.711 frames. */
    ignored: number;
    jitter: JitterBufferDump;
  }>;
}

interface RoomMember {
  legId: number;
  key: string;
  role: MixRole;
  whisperTo: number | undefined;
  codecs: LegPayloadMap;
  jitter: JitterBuffer;
  send: (frame: Int16Array) => void;
  /** Packets whose payload was not whole 20 ms G.711 frames (telephone-events, other ptimes). */
  ignored: number;
}

/**
 * Mixing adds the jitter buffer's delay to a path that was a straight relay: start low (two frames)
 * and let the buffer grow only for the jitter it measures.
 */
const DEFAULT_JITTER: JitterBufferOptions = { minDelayMs: 20, initialDelayMs: 40, maxDelayMs: 200 };

export class MixRoom {
  private readonly conference: Conference;
  private readonly members = new Map<number, RoomMember>();
  private readonly scratch = new Int16Array(FRAME_SAMPLES);
  private ticks = 0;
  private closed = false;

  constructor(
    readonly id: string,
    private readonly opts: MixRoomOptions,
  ) {
    this.conference = new Conference({ maxMembers: opts.maxMembers });
  }

  get size(): number {
    return this.members.size;
  }

  has(legId: number): boolean {
    return this.members.has(legId);
  }

  legIds(): number[] {
    return [...this.members.keys()];
  }

  add(legId: number, m: MixMemberOptions): Result<void> {
    if (this.closed) return err({ code: 'EDGE_ERR_MIX_CLOSED', message: 'room is closed', field: 'roomId' });
    const key = String(legId);
    const added = this.conference.add(key, {
      role: m.role,
      whisperTo: m.whisperTo === undefined ? undefined : String(m.whisperTo),
    });
    if (!added.ok) return added;
    this.members.set(legId, {
      legId,
      key,
      role: m.role,
      whisperTo: m.whisperTo,
      codecs: { ...m.codecs },
      jitter: new JitterBuffer(this.opts.clock, this.opts.jitter ?? DEFAULT_JITTER),
      send: m.send,
      ignored: 0,
    });
    return ok(undefined);
  }

  remove(legId: number): boolean {
    const m = this.members.get(legId);
    if (!m) return false;
    m.jitter.close();
    this.members.delete(legId);
    this.conference.remove(m.key);
    // A whisperer coaching the leg that left has nobody to coach: it keeps listening.
    for (const w of this.members.values())
      if (w.role === 'whisper' && w.whisperTo === legId) void this.setRole(w.legId, 'listen');
    return true;
  }

  setRole(legId: number, role: MixRole, whisperTo?: number): Result<void> {
    const m = this.members.get(legId);
    if (!m)
      return err<ParseError>({
        code: 'EDGE_ERR_MIX_MEMBER_UNKNOWN',
        message: `leg ${legId} is not in room`,
        field: 'legId',
      });
    const r = this.conference.setRole(m.key, role, whisperTo === undefined ? undefined : String(whisperTo));
    if (r.ok) {
      m.role = role;
      m.whisperTo = whisperTo;
    }
    return r;
  }

  setCodecs(legId: number, codecs: LegPayloadMap): void {
    const m = this.members.get(legId);
    if (m) m.codecs = { ...codecs };
  }

  /** An accepted RTP packet from a member's peer (a view valid during the call only). */
  receive(legId: number, datagram: Uint8Array, view: RtpView): void {
    const m = this.members.get(legId);
    if (!m) return;
    let kind = payloadKind(m.codecs, view.payloadType);
    // RFC 3551 §6: 0 and 8 are static payload types, whatever the leg negotiated by number.
    if (kind === 'other' && view.payloadType === 0) kind = 'pcmu';
    if (kind === 'other' && view.payloadType === 8) kind = 'pcma';
    const len = view.payloadLength;
    if ((kind !== 'pcmu' && kind !== 'pcma') || len === 0 || len % FRAME_SAMPLES !== 0) {
      m.ignored++;
      return;
    }
    // G.711 is one octet per sample: a 40 ms packet is two frames, timestamps 160 apart.
    for (let at = 0; at < len; at += FRAME_SAMPLES) {
      decodeInto(kind, datagram, view.payloadOffset + at, FRAME_SAMPLES, this.scratch, 0);
      m.jitter.push({
        sequenceNumber: view.sequenceNumber,
        timestamp: (view.timestamp + at) >>> 0,
        ssrc: view.ssrc,
        frame: this.scratch,
      });
    }
  }

  /** One 20 ms frame: pull every member's buffer, mix, send each member what it hears. */
  tick(): void {
    if (this.closed || this.members.size === 0) return;
    for (const m of this.members.values()) this.conference.put(m.key, m.jitter.pull());
    const out = this.conference.mix();
    for (const m of this.members.values()) {
      const frame = out.get(m.key);
      if (frame) m.send(frame);
    }
    this.ticks++;
  }

  close(): void {
    this.closed = true;
    for (const m of this.members.values()) m.jitter.close();
    this.members.clear();
    this.conference.close();
  }

  dump(): MixRoomDump {
    return {
      id: this.id,
      ticks: this.ticks,
      mixer: this.conference.dump(),
      members: [...this.members.values()].map((m) => ({
        legId: m.legId,
        ignored: m.ignored,
        jitter: m.jitter.dump(),
      })),
    };
  }
}
