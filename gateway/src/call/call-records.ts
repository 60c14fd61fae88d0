/**
 * The records of calls (CDR rows of legs and interactions), built from call control's own facts:
 * a call's interaction and answered legs are stored open at its answer and completed at its end
 * (crash-safe records); every leg placed for an interaction — forks, attempts, PSTN ports — has
 * its row, and the interaction row counts them. Writing a record never throws into call control:
 * a sink that fails is logged.
 */
import type { Clock } from '../../../base/clock.ts';
import type { Logger } from '../core/log.ts';
import type { PstnIncoming } from '../pstn/pstn-calls.ts';
import { causeOfSipStatus } from './hangup-cause.ts';
import { legOutcome } from './leg-cdr.ts';
import type { CdrSink, LegCdrExtra, LegMediaFacts, OpenedInteraction } from './ports.ts';
import type { OutboundPstnLeg } from './pstn-leg/outbound-pstn-leg.ts';
import type { PstnLeg } from './pstn-leg/pstn-leg.ts';
import type { SipCall } from './sip-call.ts';
import type { OutboundSipLeg } from './sip-leg/outbound-sip-leg.ts';

export interface CallRecordsOptions {
  cdr: CdrSink;
  clock: Clock;
  logger: Logger;
  /** The interaction's recording file, if it is recorded. */
  recordingOf(interactionId: string): string | undefined;
}

export class CallRecords {
  /**
   * Legs placed for an interaction outside its SIP call (PSTN ports, originated legs, attempts):
   * how many, and who answered; read and forgotten when the interaction's row is written.
   */
  readonly placedFor = new Map<string, { legs: number; answered: string | undefined }>();

  constructor(private readonly o: CallRecordsOptions) {}

  /**
   * A call answered: its interaction and the two answered legs are stored open at once, so a
   * crash before its end still leaves its records (closed as interrupted at the next start).
   */
  sipAnswered(call: SipCall): void {
    const s = call.summary();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const recording = this.o.recordingOf(call.interactionId);
    const winner = call.answeredLeg;
    const legs: OpenedInteraction['legs'] = [
      {
        ...inboundLegFacts(call),
        answeredAt: iso(s.answeredAtMs),
        trunkMember: null,
        ...(recording ? { extra: { recording } } : {}),
      },
    ];
    if (winner)
      legs.push({
        ...outboundLegFacts(call, winner),
        startedAt: iso(s.startedAtMs + (winner.startedAtMs - call.startedAtMs)) ?? '',
        answeredAt: iso(s.answeredAtMs),
      });
    this.open({
      interaction: {
        interactionId: call.interactionId,
        caller: call.caller.user,
        callee: winner?.target.peer ?? call.dialled,
        dialled: call.dialled,
        route: s.routeId,
        startedAt: iso(s.startedAtMs) ?? '',
        answeredAt: iso(s.answeredAtMs),
      },
      legs,
    });
  }

  /** A SIP call ended: the row of its caller's leg, of every outbound leg, of the interaction. */
  sipEnded(call: SipCall): void {
    const s = call.summary();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const endedAt = s.endedAtMs ?? this.o.clock.wallNow();
    const durationMs = endedAt - s.startedAtMs;
    const billableMs = s.answeredAtMs === null ? 0 : endedAt - s.answeredAtMs;
    // One recording per interaction, named on the caller's leg.
    const recording = this.o.recordingOf(call.interactionId);
    try {
      this.o.cdr.leg({
        ...inboundLegFacts(call),
        answeredAt: iso(s.answeredAtMs),
        // A caller that transferred the callee away left then (REFER from the calling party).
        ...(call.inboundTransferredWallMs === undefined
          ? { endedAt: iso(endedAt) ?? '', durationMs, billableMs, hangupCause: s.hangupCause }
          : {
              endedAt: iso(call.inboundTransferredWallMs) ?? '',
              durationMs: call.inboundTransferredWallMs - s.startedAtMs,
              billableMs: s.answeredAtMs === null ? 0 : call.inboundTransferredWallMs - s.answeredAtMs,
              hangupCause: 'transferred',
            }),
        status: s.finalStatus ?? 0,
        hangupBy: call.inboundTransferredWallMs === undefined ? s.hangupBy : 'caller',
        trunkMember: null,
        ...legExtra(recording, call.inboundTransferredWallMs === undefined ? call.mediaQuality?.a : null),
      });
      for (const leg of call.outboundLegs) {
        // A leg transferred away, or a transfer target's, has its own answer and end times.
        if (leg.answeredWallMs !== undefined) {
          const legStart = s.startedAtMs + (leg.startedAtMs - call.startedAtMs);
          const legEnd = leg.endedWallMs ?? endedAt;
          const current = leg === call.answeredLeg;
          this.o.cdr.leg({
            ...outboundLegFacts(call, leg),
            startedAt: iso(legStart) ?? '',
            answeredAt: iso(leg.answeredWallMs),
            endedAt: iso(legEnd) ?? '',
            durationMs: legEnd - legStart,
            billableMs: legEnd - leg.answeredWallMs,
            status: 200,
            hangupCause: leg.endCause ?? (current ? s.hangupCause : leg.state),
            hangupBy: current ? s.hangupBy : null,
            ...legExtra(undefined, current ? call.mediaQuality?.b : null),
          });
          continue;
        }
        const answered = leg === call.answeredLeg;
        this.o.cdr.leg({
          ...outboundLegFacts(call, leg),
          startedAt: iso(s.startedAtMs + (leg.startedAtMs - call.startedAtMs)) ?? '',
          answeredAt: answered ? iso(s.answeredAtMs) : null,
          endedAt: iso(endedAt) ?? '',
          durationMs: endedAt - (s.startedAtMs + (leg.startedAtMs - call.startedAtMs)),
          billableMs: answered ? billableMs : 0,
          status: answered ? 200 : (leg.finalStatus ?? 0),
          hangupCause: answered ? s.hangupCause : leg.state,
          hangupBy: answered ? s.hangupBy : null,
          ...legExtra(undefined, answered ? call.mediaQuality?.b : null),
        });
      }
      const placed = this.placedFor.get(call.interactionId);
      this.placedFor.delete(call.interactionId);
      this.o.cdr.interaction({
        interactionId: call.interactionId,
        caller: call.caller.user,
        callee:
          call.answeredLeg?.target.peer ??
          placed?.answered ??
          call.outboundLegs[0]?.target.peer ??
          call.dialled,
        dialled: call.dialled,
        route: s.routeId,
        startedAt: iso(s.startedAtMs) ?? '',
        answeredAt: iso(s.answeredAtMs),
        endedAt: iso(endedAt) ?? '',
        durationMs,
        outcome: outcomeOf(s.finalStatus),
        status: s.finalStatus ?? 0,
        legs: 1 + call.outboundLegs.length + (placed?.legs ?? 0),
      });
    } catch (e) {
      this.o.logger.error({ err: e, interactionId: call.interactionId }, 'writing CDR failed');
    }
  }

  /** A PSTN caller's leg answered: its interaction and its leg are stored open. */
  pstnAnswered(leg: PstnLeg, call: PstnIncoming, routeId: string | null, startedAtMs: number): void {
    const interactionId = leg.interactionId;
    const iso = (ms: number) => new Date(ms).toISOString();
    const recording = this.o.recordingOf(interactionId);
    this.open({
      interaction: {
        interactionId,
        caller: call.callerNumber,
        callee: call.called,
        dialled: call.called,
        route: routeId,
        startedAt: iso(startedAtMs),
        answeredAt: iso(this.o.clock.wallNow()),
      },
      legs: [
        {
          ...pstnInboundFacts(leg, call),
          startedAt: iso(startedAtMs),
          answeredAt: iso(this.o.clock.wallNow()),
          trunkMember: null,
          extra: { port: call.portKey, channel: call.channel, ...(recording ? { recording } : {}) },
        },
      ],
    });
  }

  /** The PSTN leg's CDR row and its interaction's, once the leg has ended. */
  pstnEnded(leg: PstnLeg, call: PstnIncoming, route: string | null, startedAtMs: number): void {
    const d = leg.dump();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const endedAt = d.end?.atMs ?? this.o.clock.wallNow();
    const status = d.answeredAtMs === null ? (d.end?.sipStatus ?? 0) : 200;
    const placed = this.placedFor.get(leg.interactionId);
    this.placedFor.delete(leg.interactionId);
    // The line's recording: one per interaction, from the first frame to the end.
    const recording = this.o.recordingOf(leg.interactionId);
    try {
      this.o.cdr.leg({
        ...pstnInboundFacts(leg, call),
        startedAt: iso(startedAtMs) ?? '',
        answeredAt: iso(d.answeredAtMs),
        endedAt: iso(endedAt) ?? '',
        durationMs: endedAt - startedAtMs,
        billableMs: d.answeredAtMs === null ? 0 : endedAt - d.answeredAtMs,
        status,
        hangupCause: d.end?.cause ?? 'normal-clearing',
        hangupBy: d.end?.by === 'remote' ? 'caller' : d.end?.by === 'local' ? 'callee' : 'system',
        trunkMember: null,
        extra: {
          port: call.portKey,
          channel: call.channel,
          ...(recording ? { recording } : {}),
        },
      });
      this.o.cdr.interaction({
        interactionId: d.interactionId,
        caller: call.callerNumber,
        callee: placed?.answered ?? call.called,
        dialled: call.called,
        route,
        startedAt: iso(startedAtMs) ?? '',
        answeredAt: iso(d.answeredAtMs),
        endedAt: iso(endedAt) ?? '',
        durationMs: endedAt - startedAtMs,
        outcome: outcomeOf(status),
        status,
        legs: 1 + (placed?.legs ?? 0),
      });
    } catch (e) {
      this.o.logger.error(
        { err: e, interactionId: d.interactionId },
        'writing the CDR of a PSTN call failed',
      );
    }
  }

  /** The CDR row of a call placed on a PSTN port: the port that carried it is its peer. */
  outboundPstnLeg(leg: OutboundPstnLeg, callerId: string): void {
    const d = leg.dump();
    try {
      this.o.cdr.leg({
        legId: d.id,
        interactionId: d.interactionId,
        callId: '',
        direction: 'outbound',
        technology: 'pstn',
        peer: leg.portKey ?? d.party.id,
        fromUri: callerId,
        toUri: d.party.number,
        callerId,
        ...legOutcome(d, this.o.clock.wallNow()),
        trunkMember: null,
        extra: {
          group: d.detail.technology === 'fxo' || d.detail.technology === 'e1' ? d.detail.lineId : null,
        },
      });
    } catch (e) {
      this.o.logger.error({ err: e, legId: d.id }, 'writing the CDR of a PSTN leg failed');
    }
  }

  /**
   * One CDR row per attempt of a leg placed for a caller (each contact, trunk member or
   * ring-group member rung), as the B2BUA's relayed calls record them; the answering attempt
   * carries the leg's answer and end. Returns how many rows were written.
   */
  attempts(leg: OutboundSipLeg, callerId: string): number {
    const d = leg.dump();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const legEnd = d.end?.atMs ?? this.o.clock.wallNow();
    const attempts = leg.attemptRecords();
    attempts.forEach((a, i) => {
      const endedAt = a.answered ? legEnd : (a.endedAtMs ?? legEnd);
      try {
        this.o.cdr.leg({
          legId: a.answered ? d.id : `${d.id}.${i + 1}`,
          interactionId: d.interactionId,
          callId: a.callId,
          direction: 'outbound',
          technology: 'sip',
          peer: a.peer,
          fromUri: a.fromUri,
          toUri: a.toUri,
          callerId,
          startedAt: iso(a.startedAtMs) ?? '',
          answeredAt: a.answered ? iso(d.answeredAtMs) : null,
          endedAt: iso(endedAt) ?? '',
          durationMs: endedAt - a.startedAtMs,
          billableMs: a.answered && d.answeredAtMs !== null ? legEnd - d.answeredAtMs : 0,
          status: a.status ?? 0,
          hangupCause: a.answered ? (d.end?.cause ?? 'normal-clearing') : causeOfSipStatus(a.status ?? 480),
          hangupBy: a.answered
            ? d.end?.by === 'remote'
              ? 'callee'
              : d.end?.by === 'local'
                ? 'caller'
                : 'system'
            : null,
          trunkMember: a.member ?? null,
        });
      } catch (e) {
        this.o.logger.error({ err: e, legId: d.id }, 'writing the CDR of an attempt failed');
      }
    });
    return attempts.length;
  }

  /** The CDR row of an originated leg, under the interaction id of the call it was placed for. */
  originatedLeg(leg: OutboundSipLeg, callerId: string): void {
    const d = leg.dump();
    try {
      this.o.cdr.leg({
        legId: d.id,
        interactionId: d.interactionId,
        callId: d.detail.technology === 'sip' ? d.detail.callId : '',
        direction: 'outbound',
        technology: 'sip',
        peer: d.party.id,
        fromUri: leg.fromHeader,
        toUri: d.detail.technology === 'sip' ? (d.detail.remoteTarget ?? '') : '',
        callerId,
        ...legOutcome(d, this.o.clock.wallNow()),
        trunkMember: null,
      });
    } catch (e) {
      this.o.logger.error({ err: e, legId: d.id }, 'writing the CDR of an originated leg failed');
    }
  }

  private open(o: OpenedInteraction): void {
    try {
      this.o.cdr.opened?.(o);
    } catch (e) {
      this.o.logger.error({ err: e, interactionId: o.interaction.interactionId }, 'opening records failed');
    }
  }
}

/** What every row of a SIP call's inbound leg says of it, open or closed. */
function inboundLegFacts(call: SipCall) {
  const inbound = call.inboundLeg.invite;
  return {
    legId: `${call.interactionId}:a`,
    interactionId: call.interactionId,
    callId: inbound.headers.get('call-id') ?? '',
    direction: 'inbound' as const,
    technology: 'sip' as const,
    peer: call.callerPeer,
    fromUri: inbound.headers.get('from') ?? '',
    toUri: inbound.headers.get('to') ?? '',
    callerId: call.caller.user,
    startedAt: new Date(call.summary().startedAtMs).toISOString(),
  };
}

/** What every row of one of a SIP call's outbound legs says of it, open or closed. */
function outboundLegFacts(call: SipCall, leg: SipCall['outboundLegs'][number]) {
  return {
    legId: leg.id,
    interactionId: call.interactionId,
    callId: leg.invite.headers.get('call-id') ?? '',
    direction: 'outbound' as const,
    technology: 'sip' as const,
    peer: leg.target.peer,
    fromUri: leg.invite.headers.get('from') ?? '',
    toUri: leg.invite.headers.get('to') ?? '',
    callerId: call.caller.user,
    trunkMember: leg.target.member ?? null,
  };
}

/** What every row of a PSTN caller's leg says of it, open or closed. */
function pstnInboundFacts(leg: PstnLeg, call: PstnIncoming) {
  return {
    legId: leg.id,
    interactionId: leg.interactionId,
    callId: '',
    direction: 'inbound' as const,
    technology: 'pstn' as const,
    peer: call.lineId,
    fromUri: call.callerNumber,
    toUri: call.called,
    callerId: call.callerNumber,
  };
}

/** The CDR `extra` of a leg: its recording and its media quality (RTCP, E-model, SRTP), when known. */
function legExtra(
  recording: string | undefined,
  media: LegMediaFacts | null | undefined,
): { extra?: LegCdrExtra } {
  if (!recording && !media) return {};
  return { extra: { ...(recording ? { recording } : {}), ...(media ? { media } : {}) } };
}

export function outcomeOf(status: number | null): 'answered' | 'busy' | 'no-answer' | 'failed' | 'cancelled' {
  if (status === null) return 'failed';
  if (status >= 200 && status < 300) return 'answered';
  if (status === 486 || status === 600) return 'busy';
  if (status === 487) return 'cancelled';
  if (status === 480 || status === 408) return 'no-answer';
  return 'failed';
}
