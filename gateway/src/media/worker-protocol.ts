/**
 * Messages between the media engine (main thread) and its relay workers. Plain data only: they
 * cross `postMessage` by structured clone. Legs are numbered by the engine, unique per engine.
 */
import type { G711Law } from './g711.ts';
import type { RtpAddress } from './rtp-latch.ts';

export type ToWorker =
  /** Bind the leg's RTP socket on `port` and its RTCP socket on `port + 1`. */
  | { t: 'open'; legId: number; host: string; port: number }
  /** Where the leg's peer said it receives (SDP), until latching finds out; null = do not send (hold). */
  | { t: 'remote'; legId: number; rtp: RtpAddress | null; rtcp: RtpAddress | null }
  /** Packets of `a` go out of `b` and vice versa. */
  | { t: 'bridge'; a: number; b: number }
  /** The leg's negotiated payload types: the rewrite and transcoding tables (−1 = not negotiated). */
  | {
      t: 'codecs';
      legId: number;
      pcmu: number;
      pcma: number;
      telephoneEvent: number;
      sendLaw: G711Law | null;
    }
  /** Report `dead` when the leg has been silent this long; 0 stops watching (hold, inactive). */
  | { t: 'watch'; legId: number; deadMediaMs: number }
  | { t: 'close'; legId: number }
  | { t: 'stats'; requestId: number };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'opened'; legId: number; ok: true }
  | { t: 'opened'; legId: number; ok: false; error: string }
  | { t: 'latched'; legId: number; kind: 'rtp' | 'rtcp'; address: string; port: number }
  | { t: 'dead'; legId: number; silentMs: number }
  | { t: 'closed'; legId: number }
  | { t: 'stats'; requestId: number; legs: RelayLegStats[] };

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
  latchedRtcp: RtpAddress | null;
  /** The law sent to this leg when transcoding, and the laws it negotiated. */
  codecs: { pcmu: number; pcma: number; telephoneEvent: number; sendLaw: G711Law | null };
  dead: boolean;
}

/** Ethernet MTU minus IP and UDP headers: no G.711 RTP packet of a phone is larger. */
export const MAX_DATAGRAM_BYTES = 1472;
