/**
 * Where to send media: symmetric RTP with latching.
 *
 * RFC 4961 §3: "A device supporting symmetric RTP MUST transmit RTP packets ... using the same
 * source port as the port on which it receives". We bind one socket per stream and send from it,
 * and since most phones do the same, the source address of the peer's packets is where its media
 * is received — even behind a NAT that rewrote what the SDP says (the "latching" of
 * draft-ietf-mmusic-latching / RFC 7362 §4). Until the first packet arrives we send to the
 * address and port of the offer's c=/m= lines.
 *
 * Once latched, packets from any other source are not accepted (RFC 7362 §5.1 warns that
 * latching to whoever sends first lets a third party hijack the stream) — except when the latched
 * source has been silent for `relatchAfterMs`, which is how a NAT rebinding of the peer looks.
 */

export interface RtpAddress {
  address: string;
  port: number;
}

export interface LatchState {
  /** Where media goes now: the latched source, or the SDP's address before latching. */
  target: RtpAddress | undefined;
  latched: boolean;
  /** Monotonic time of the last packet accepted from the latched source. */
  lastFromTargetMs: number;
  relatches: number;
}

export function newLatch(sdpTarget: RtpAddress | undefined): LatchState {
  return { target: sdpTarget, latched: false, lastFromTargetMs: 0, relatches: 0 };
}

/**
 * A valid RTP packet arrived from `source` at `nowMs`. Returns whether it may be accepted (it is
 * from the latched source, or it latched the stream); updates the state in place.
 */
export function acceptSource(
  state: LatchState,
  source: RtpAddress,
  nowMs: number,
  relatchAfterMs: number,
): boolean {
  const t = state.target;
  if (state.latched && t && t.address === source.address && t.port === source.port) {
    state.lastFromTargetMs = nowMs;
    return true;
  }
  if (state.latched && nowMs - state.lastFromTargetMs < relatchAfterMs) return false;
  if (state.latched) state.relatches++;
  state.target = { address: source.address, port: source.port };
  state.latched = true;
  state.lastFromTargetMs = nowMs;
  return true;
}
