/**
 * Messages between the media engine (main thread) and its relay workers. Plain data only: they
 * cross `postMessage` by structured clone. Legs are numbered by the engine, unique per engine.
 */
import type { FrameEndpointDump } from './frame-endpoint.ts';
import type { G711Law } from '../../../../base/signal/g711.ts';
import type { RtpAddress } from '../rtp/rtp-latch.ts';
import type { SrtpDropReason, SrtpSuite } from '../srtp/srtp.ts';
import type { MixCommand } from '../mix/mix-command.ts';
import type { TapSide } from '../record/recorder.ts';

/**
 * SRTP keys of one leg (RFC 3711, keyed by SDES RFC 4568): `localKey` is the master key || salt
 * we announced in our a=crypto and protect with, `remoteKey` the peer's, which we unprotect with.
 * Base64, as in the SDP.
 */
export interface LegSrtpKeys {
  suite: SrtpSuite;
  localKey: string;
  remoteKey: string;
}

export type ToWorker =
  /**
   * Bind the leg's RTP socket on `port` and its RTCP socket on `port + 1`; port 0: a leg without
   * sockets, whose peer is a leg of the same worker (`wire`).
   */
  | { t: 'open'; legId: number; host: string; port: number }
  /** Give a leg opened without sockets its port pair (`opened` with `sockets: true` answers). */
  | { t: 'bind'; legId: number; host: string; port: number }
  /** Where the leg's peer said it receives (SDP), until latching finds out; null = do not send (hold). */
  | { t: 'remote'; legId: number; rtp: RtpAddress | null; rtcp: RtpAddress | null }
  /** Packets of `a` go out of `b` and vice versa. */
  | { t: 'bridge'; a: number; b: number }
  /**
   * `a` and `b` are each other's only RTP peer, both in this worker (a PSTN channel's frame leg and
   * the media leg of the app that answered it, or two channels' frame legs): packets are handed
   * between them without a socket. `b` = −1 undoes it.
   */
  | { t: 'wire'; a: number; b: number }
  /** The leg's negotiated payload types: the rewrite and transcoding tables (−1 = not negotiated). */
  | {
      t: 'codecs';
      legId: number;
      pcmu: number;
      pcma: number;
      telephoneEvent: number;
      sendLaw: G711Law | null;
    }
  /**
   * Report `dead` when the leg has been silent this long; 0 stops watching (hold, inactive).
   * `answered`: the call is answered, so a leg that never sent anything is watched too.
   */
  | { t: 'watch'; legId: number; deadMediaMs: number; answered?: boolean }
  /** Terminate SRTP on the leg with these keys; null: the leg is plain RTP. */
  | { t: 'srtp'; legId: number; keys: LegSrtpKeys | null }
  | { t: 'close'; legId: number }
  | { t: 'stats'; requestId: number }
  /**
   * What the worker does with the leg's packets besides forwarding: DTMF is always decoded;
   * in-band detection when `detectInband` (undefined: when no telephone-event was negotiated).
   */
  | { t: 'process'; legId: number; detectInband?: boolean }
  /** Answer the leg as a service number: echo (bridged to itself) or the milliwatt tone. */
  | { t: 'service'; legId: number; kind: 'echo' | 'milliwatt' | 'frames' | 'prompt' | 'mix' }
  /**
   * Frames for `frames` legs, one batch per 20 ms tick of the card for all of them: `legIds[i]`
   * owns samples `[i·160, (i+1)·160)` (buffers transferred). Each is sent at once on its leg's own
   * stream.
   */
  | { t: 'frames-down'; legIds: Int32Array; samples: Int16Array }
  /** Start a recorder tap: `caller` on the left channel, `other` on the right. */
  | { t: 'record'; recordingId: string; caller: number; other: number }
  /**
   * Start a recorder tap on one leg: what the leg receives from its peer on the `received`
   * channel, the frames the leg sends of its own (`RelayLeg.sendFrame`: a PSTN line's audio,
   * prompts, a bridge's mix) on the other.
   */
  | { t: 'record-leg'; recordingId: string; legId: number; received: TapSide }
  /** Stop the tap: its last batch, then `recording-stopped`. */
  | { t: 'record-stop'; recordingId: string }
  /** A leg joins a running tap on one channel (a transfer target replacing a party). */
  | { t: 'record-attach'; recordingId: string; legId: number; side: 'caller' | 'other' }
  /** Conference and monitoring rooms: legs mixed on the frame clock instead of relayed (`worker-rooms.ts`). */
  | { t: 'mix'; cmd: MixCommand }
  /** A decoded prompt (8 kHz, whole 20 ms frames) kept by the worker under its id: sent once. */
  | { t: 'prompt'; promptId: string; samples: Int16Array }
  /** Play cached prompts on the leg's own stream (see `leg-player.ts`). */
  | { t: 'play'; legId: number; play: LegPlayRequest }
  /** Stop the leg's player; with `digit`, a digit signalled in SIP barges in. */
  | { t: 'play-stop'; legId: number; digit?: string };

export type FromWorker =
  | { t: 'ready' }
  /** `sockets`: what was opened or bound has its port pair (false: a leg without sockets). */
  | { t: 'opened'; legId: number; ok: true; sockets: boolean }
  | { t: 'opened'; legId: number; ok: false; sockets: boolean; error: string }
  | { t: 'latched'; legId: number; kind: 'rtp' | 'rtcp'; address: string; port: number }
  | { t: 'dead'; legId: number; silentMs: number }
  | { t: 'closed'; legId: number }
  | { t: 'stats'; requestId: number; legs: RelayLegStats[] }
  /** One digit, once, when it ended. */
  | { t: 'digit'; legId: number; digit: string; durationMs: number; source: 'rfc4733' | 'inband' }
  /** A batch of interleaved stereo frames of a recording (buffer transferred). */
  | { t: 'recording'; recordingId: string; samples: Int16Array }
  /**
   * Frames received on `frames` legs since the last batch, in arrival order, batched like
   * `frames-down` (a leg appears once per frame; buffers transferred). Sent every 20 ms of the
   * worker's clock; a late tick ships everything that arrived meanwhile, nothing is dropped here.
   * The consumer paces them out (`FramePlayout`) on its own clock.
   */
  | { t: 'frames-up'; legIds: Int32Array; samples: Int16Array }
  | { t: 'recording-stopped'; recordingId: string; frames: number; durationMs: number }
  /** A player stopped: its playlist ended, a digit interrupted it, or it was stopped. */
  | {
      t: 'play-ended';
      legId: number;
      playId: number;
      outcome: PlayOutcome;
      positionMs: number;
      digit?: string;
    };

/** How a player on a leg ended. */
export type PlayOutcome = 'finished' | 'interrupted' | 'stopped';

/** What to play on a leg: prompts the worker has cached, in order. */
export interface LegPlayRequest {
  /** Names the play in its `play-ended` (a replaced play ends after its successor started). */
  playId: number;
  promptIds: string[];
  /** Start over after the last prompt until stopped (music on hold). */
  loop: boolean;
  /** A digit received on the leg stops the playlist (barge-in). */
  bargeIn: boolean;
  /**
   * Packets the bridged leg would forward to this one are consumed while it plays (music on
   * hold: what the holding party still sends must not reach the held one).
   */
  muteBridge: boolean;
}

/** Why a datagram was not forwarded. */
export interface DropCounters {
  /** Shorter than an RTP header, or a CSRC list / extension / padding running past the end. */
  truncated: number;
  /** Larger than any RTP packet the relay accepts (`MAX_DATAGRAM_BYTES`). */
  oversized: number;
  /** Version field not 2 (RFC 3550 §5.1), or RTCP on the RTP port. */
  notRtp: number;
  /** From an address other than the latched one (RFC 7362 §5.1: no hijacking after latching). */
  foreignSource: number;
  /** Nowhere to send: no bridged leg, or the far peer is on hold / unknown. */
  noPeer: number;
  /** A format the far leg did not negotiate and the relay cannot transcode to. */
  noCodec: number;
  /** Bad RTCP on the RTCP port (length, version). */
  badRtcp: number;
}

export interface RelayLegStats {
  legId: number;
  localPort: number;
  rx: number;
  tx: number;
  rxBytes: number;
  txBytes: number;
  transcoded: number;
  rtcpRx: number;
  rtcpTx: number;
  dropped: DropCounters;
  sendErrors: number;
  latched: RtpAddress | null;
  /** Arrival of the leg's first RTP packet on the worker's monotonic clock (legs of a call share it). */
  firstRtpAtMs: number | null;
  latchedRtcp: RtpAddress | null;
  /** The law sent to this leg when transcoding, and the laws it negotiated. */
  codecs: { pcmu: number; pcma: number; telephoneEvent: number; sendLaw: G711Law | null };
  dead: boolean;
  /** SRTP termination on this leg, null when the leg is plain RTP. */
  srtp: LegSrtpStats | null;
  /** The stream the gateway sends on this leg: its own SSRC, continuous across source changes. */
  outStream: { ssrc: number; sourceChanges: number };
  /** RTCP-derived quality of the stream received on this leg (RFC 3550 §6.4, ITU-T G.107). */
  quality: LegQuality;
  /** RTP goes to and comes from a leg of the same worker without a socket (see `wire`). */
  wired: boolean;
  /** A frame leg's decoder: frames made from received RTP, shipped, dropped (queue full). */
  frames?: FrameEndpointDump;
}

export interface LegSrtpStats {
  suite: SrtpSuite;
  /** Packets unprotected (received) and protected (sent), RTP and RTCP together. */
  unprotected: number;
  protected: number;
  /** Received packets refused, by reason (RFC 3711 §3.3: authentication, replay). */
  dropped: Record<SrtpDropReason, number>;
}

export interface LegQuality {
  /** Packets received from the peer (after RFC 3550 A.1 probation), expected and lost. */
  received: number;
  expected: number;
  lost: number;
  lossPercent: number;
  jitterMs: number;
  maxJitterMs: number;
  /** From the peer's report blocks about our stream (RFC 3550 §6.4.1 LSR/DLSR); null until known. */
  rttMs: number | null;
  rFactor: number;
  mos: number;
  /** What the peer reports about the stream we send it: fraction lost (0..1) and jitter. */
  remote: { fractionLost: number; jitterMs: number } | null;
  reportsSent: number;
  reportsReceived: number;
  ssrcChanges: number;
}

/** Ethernet MTU minus IP and UDP headers: no G.711 RTP packet of a phone is larger. */
export const MAX_DATAGRAM_BYTES = 1472;
