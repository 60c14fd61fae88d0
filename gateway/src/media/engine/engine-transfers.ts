/**
 * Blind transfer on the media engine: a call keeps one of its legs (the transferee's) and trades
 * the other for a new leg facing the transfer target.
 *
 * The new leg is negotiated as the far leg of a provisional call (`newKey`) opened in the worker
 * of the kept leg, with the transferee's last description as the offer: the target gets our
 * rewritten offer, its answer fixes the new leg's codecs. The provisional call's near leg never
 * sends (its remote is cleared at once), so the transferee hears nothing from it.
 *
 * When the target answers, the kept leg is bridged to the new leg in their worker, the replaced
 * leg and the provisional near leg are closed, and the new leg becomes the call's leg on the
 * replaced side. The kept leg's outgoing stream goes on as it was: `RelayLeg` renumbers packets of
 * a new source onto its own SSRC, sequence and timestamp (relay-leg.ts `rebase`), and transcodes
 * by table when the new party sends the other G.711 law, so the transferee needs no re-INVITE.
 * The interaction's recording tap takes the new leg on the replaced leg's channel (`record-attach`),
 * so the same file goes on with the new party.
 */
import { bumpSdpVersion, parseSdp, serializeSdp, withDirection } from '../sdp/sdp.ts';
import type { LegSide } from './engine.ts';
import { audioStream, type StreamInfo } from '../sdp/sdp-anchor.ts';
import type { ToWorker } from '../worker/worker-protocol.ts';

/** What this module reads and changes of an engine leg (`EngineLeg` in engine.ts). */
export interface TransferLeg {
  legId: number;
  callKey: string;
  side: LegSide;
  worker: number;
  rtpPort: number;
  remote: unknown;
}

/** What this module reads and changes of an engine call (`CallMedia` in engine.ts). */
export interface TransferCall {
  key: string;
  a: TransferLeg;
  b: TransferLeg;
  offer: { from: LegSide } | undefined;
  answered: { by: LegSide; sessId: string; origin: string } | undefined;
  recording: string | undefined;
  callAnswered?: boolean;
  deadMediaMs?: number;
}

export interface EngineTransfersDeps {
  call(key: string): TransferCall | undefined;
  isDirect(key: string): boolean;
  relay(key: string, side: LegSide, sdp: Buffer): Buffer | { rejectStatus: number };
  post(worker: number, m: ToWorker): void;
  /** Close one leg's sockets; its port returns to the pool once they are closed. */
  closeLeg(leg: TransferLeg): void;
  /** Forget a call whose legs were closed or taken over, without closing them. */
  dropCall(key: string): void;
  /** The media policy of `from`'s party applies to `to` from now on. */
  copyParty(from: { key: string; side: LegSide }, to: { key: string; side: LegSide }): void;
  /** Address written into our SDP (c=, o=). */
  address(): string;
  /** Where a leg's party receives, from its answer: the leg sends there from now on. */
  setRemote(callKey: string, side: LegSide, stream: StreamInfo): boolean;
}

export interface EngineTransfersDump {
  pending: number;
  completed: number;
  failed: number;
}

const other = (s: LegSide): LegSide => (s === 'a' ? 'b' : 'a');

export class EngineTransfers {
  /** Provisional calls by key: the call and side they will join. */
  private readonly pending = new Map<string, { callKey: string; keepSide: LegSide; worker: number }>();
  private completed = 0;
  private failed = 0;

  constructor(private readonly deps: EngineTransfersDeps) {}

  /** The worker a provisional call must open in (the kept leg's), when `key` is one. */
  workerFor(key: string): number | undefined {
    return this.pending.get(key)?.worker;
  }

  /** A provisional call is never recorded on its own: the interaction's tap takes its leg. */
  isProvisional(key: string): boolean {
    return this.pending.has(key);
  }

  /**
   * The offer for the transfer target: `sdp` (the transferee's last description) rewritten for a
   * new leg in the kept leg's worker. A direct-media call has no anchored leg to keep (488).
   */
  offer(callKey: string, keepSide: LegSide, newKey: string, sdp: Buffer): Buffer | { rejectStatus: number } {
    const call = this.deps.call(callKey);
    if (!call || this.deps.isDirect(callKey)) return { rejectStatus: 488 };
    this.pending.set(newKey, { callKey, keepSide, worker: call[keepSide].worker });
    this.deps.copyParty({ key: callKey, side: keepSide }, { key: newKey, side: 'a' });
    const out = this.deps.relay(newKey, 'a', sdp);
    const provisional = this.deps.call(newKey);
    if (!Buffer.isBuffer(out) || !provisional) {
      this.pending.delete(newKey);
      this.failed++;
      return Buffer.isBuffer(out) ? { rejectStatus: 503 } : out;
    }
    // The near leg stands in for the transferee only in the negotiation: it never sends.
    provisional.a.remote = undefined;
    this.deps.post(provisional.a.worker, { t: 'remote', legId: provisional.a.legId, rtp: null, rtcp: null });
    return out;
  }

  /**
   * The target answered (its answer already relayed on `newKey`'s side b): the new leg takes the
   * replaced side of `callKey`. False when the calls are gone or the legs are not in one worker.
   */
  complete(callKey: string, keepSide: LegSide, newKey: string): boolean {
    const call = this.deps.call(callKey);
    const provisional = this.deps.call(newKey);
    this.pending.delete(newKey);
    const kept = call?.[keepSide];
    if (!call || !provisional || !kept || provisional.b.worker !== kept.worker) {
      this.failed++;
      return false;
    }
    const replacedSide = other(keepSide);
    const replaced = call[replacedSide];
    const fresh = provisional.b;
    // Closed first: a packet of the replaced party arriving meanwhile finds no peer to go to.
    this.deps.closeLeg(replaced);
    this.deps.closeLeg(provisional.a);
    this.deps.dropCall(newKey);
    fresh.callKey = callKey;
    fresh.side = replacedSide;
    call[replacedSide] = fresh;
    this.deps.copyParty({ key: newKey, side: 'b' }, { key: callKey, side: replacedSide });
    this.deps.post(kept.worker, { t: 'bridge', a: kept.legId, b: fresh.legId });
    // The negotiation state follows the new leg, so a later offer from either side is told from
    // an answer (RFC 3264 §8) by the new party's origin, not the replaced party's.
    if (provisional.offer) call.offer = { ...provisional.offer, from: keepSide };
    if (provisional.answered) call.answered = { ...provisional.answered, by: replacedSide };
    this.deps.post(fresh.worker, {
      t: 'watch',
      legId: fresh.legId,
      deadMediaMs: provisional.deadMediaMs ?? call.deadMediaMs ?? 0,
      answered: call.callAnswered === true,
    });
    if (call.recording)
      this.deps.post(kept.worker, {
        t: 'record-attach',
        recordingId: callKey,
        legId: fresh.legId,
        side: replacedSide === 'a' ? 'caller' : 'other',
      });
    this.completed++;
    return true;
  }

  /**
   * The gateway's own re-offer to a transferee left on hold by the transferor (RFC 5589 §6 leaves
   * resuming it to whoever placed it on hold, and the transferor is gone): `previous` — the last
   * description the gateway sent on that leg — with the version incremented, a=sendrecv, and our
   * address and port (an RFC 2543 hold wrote 0.0.0.0). Undefined when the leg is gone.
   */
  resumeOffer(callKey: string, side: LegSide, previous: Buffer): Buffer | undefined {
    const leg = this.deps.call(callKey)?.[side];
    if (!leg) return undefined;
    return resumeOfferSdp(previous, { address: this.deps.address(), rtpPort: leg.rtpPort });
  }

  /** The transferee's answer to `resumeOffer`: where it receives may have changed. */
  resumeAnswer(callKey: string, side: LegSide, answer: Buffer): boolean {
    const parsed = parseSdp(answer);
    const stream = parsed.ok ? audioStream(parsed.value) : undefined;
    if (!stream || stream.remote === undefined) return false;
    return this.deps.setRemote(callKey, side, stream);
  }

  /** A provisional call released (the target failed, or the call ended first). */
  forget(key: string): void {
    if (this.pending.delete(key)) this.failed++;
  }

  dump(): EngineTransfersDump {
    return { pending: this.pending.size, completed: this.completed, failed: this.failed };
  }

  close(): void {
    this.pending.clear();
  }
}

/**
 * RFC 3264 §8: "When issuing an offer that modifies the session, the "o=" line of the new SDP MUST
 * be identical to that in the previous SDP, except that the version in the origin field MUST
 * increment by one from the previous SDP." The stream is the same (port, codecs, keys); only its
 * direction changes, to sendrecv (RFC 3264 §8.4 resumes a held stream the way it was before).
 */
export function resumeOfferSdp(
  previous: Buffer,
  local: { address: string; rtpPort: number },
): Buffer | undefined {
  const parsed = parseSdp(previous);
  const stream = parsed.ok ? audioStream(parsed.value) : undefined;
  if (!parsed.ok || !stream) return undefined;
  const s = bumpSdpVersion(withDirection(parsed.value, 'sendrecv', stream.index));
  const addrType = local.address.includes(':') ? 'IP6' : 'IP4';
  const conn = { netType: 'IN', addrType, address: local.address };
  if (s.connection) s.connection = { ...conn };
  const m = s.media[stream.index];
  if (!m) return undefined;
  m.port = local.rtpPort;
  m.connections = m.connections.length > 0 || !s.connection ? [{ ...conn }] : [];
  return Buffer.from(serializeSdp(s));
}
