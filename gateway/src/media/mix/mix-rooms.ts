/**
 * The engine's side of mixing (main thread): conference rooms and supervisor monitoring sessions,
 * with the worker affinity that keeps every leg of one room in ONE relay worker (the worker mixes
 * on its own frame clock; legs of another worker could not be reached without a copy per frame).
 *
 * - Conference: the first member's leg goes to the least loaded worker, which the room then keeps;
 *   later members' legs are opened there. Membership is reserved when the leg is opened, so two
 *   callers racing for the last place cannot both get it. The room is forgotten with its last member.
 * - Monitor (ChanSpy-like): the supervisor's leg is opened in the worker of the monitored call;
 *   the call's two legs and the supervisor's join a three-member room, so the call's direct relay
 *   stops while it lasts and resumes when the supervisor leaves. Digits from the supervisor switch
 *   the mode: 4 listen, 5 whisper (only the monitored extension hears), 6 barge.
 */
import type { ServiceLegHandle, ServiceLegPlan } from '../engine/engine.ts';
import { MAX_CONFERENCE_MEMBERS, type MixRole } from './mixer.ts';
import type { ToWorker } from '../worker/worker-protocol.ts';

export type MonitorMode = 'listen' | 'whisper' | 'barge';

/** The anchored call an extension is in: the extension's leg (the agent) and the other party's. */
export interface MonitoredCall {
  callKey: string;
  worker: number;
  agentLegId: number;
  otherLegId: number;
}

/** What the rooms need of the engine. */
export interface MixEnginePort {
  post(worker: number, m: ToWorker): void;
  /** A service leg (one port pair) in `preferWorker`, or the least loaded one. */
  /** `wireKey`: a frame leg to wire the new leg to when it sits in that worker (no port pair). */
  openLeg(
    callKey: string,
    preferWorker: number | undefined,
    wireKey?: string,
  ): { leg: { legId: number; worker: number }; handle: ServiceLegHandle } | undefined;
  /** The answered anchored call `extension` is a party of, if any. */
  callOf(extension: string): MonitoredCall | undefined;
}

/** A leg of a room: the service leg, started into its room by `start`. */
export type MixLegHandle = ServiceLegHandle;

export type MixJoin = { ok: true; handle: MixLegHandle } | { ok: false; status: number; reason: string };

interface ConferenceRoom {
  roomId: string;
  worker: number | undefined;
  maxParties: number;
  /** Call keys holding a place (reserved at open, released at close). */
  members: Set<string>;
}

interface MonitorSession {
  roomId: string;
  callKey: string;
  monitored: MonitoredCall;
  legId: number;
  mode: MonitorMode;
  ended: boolean;
  onMonitoredEnd: () => void;
}

/** Rooms, their members and the counters, for `/api/status`. */
export type MixRoomsDump = {
  counters: {
    joined: number;
    refusedFull: number;
    monitors: number;
    modeChanges: number;
    monitoredEnded: number;
  };
  conferences: Array<{ roomId: string; worker: number | null; maxParties: number; members: string[] }>;
  monitors: Array<{
    /** The supervisor's call. */
    callKey: string;
    /** The call monitored. */
    monitored: string;
    worker: number;
    mode: MonitorMode;
  }>;
};

const DIGIT_MODES: Record<string, MonitorMode> = { '4': 'listen', '5': 'whisper', '6': 'barge' };

export class MixRooms {
  private readonly conferences = new Map<string, ConferenceRoom>();
  private readonly monitors = new Map<string, MonitorSession>();
  private readonly monitorByLeg = new Map<number, MonitorSession>();
  private readonly counters = { joined: 0, refusedFull: 0, monitors: 0, modeChanges: 0, monitoredEnded: 0 };

  constructor(private readonly port: MixEnginePort) {}

  /** A caller joins conference `number` (486 when it holds `maxParties`, 503 with no port). */
  joinConference(
    number: string,
    callKey: string,
    maxParties = MAX_CONFERENCE_MEMBERS,
    wireKey?: string,
  ): MixJoin {
    const roomId = `conference:${number}`;
    let room = this.conferences.get(roomId);
    if (!room) {
      room = {
        roomId,
        worker: undefined,
        maxParties: Math.min(MAX_CONFERENCE_MEMBERS, Math.max(2, maxParties)),
        members: new Set(),
      };
      this.conferences.set(roomId, room);
    }
    if (room.members.size >= room.maxParties) {
      this.counters.refusedFull++;
      return { ok: false, status: 486, reason: `Busy Here (conference full: ${room.maxParties} parties)` };
    }
    const opened = this.port.openLeg(callKey, room.worker, wireKey);
    if (!opened) {
      if (room.members.size === 0) this.conferences.delete(roomId);
      return { ok: false, status: 503, reason: 'Service Unavailable (no media port)' };
    }
    room.worker ??= opened.leg.worker;
    room.members.add(callKey);
    this.counters.joined++;
    const { legId, worker } = opened.leg;
    const r = room;
    return {
      ok: true,
      handle: this.wrap(opened.handle, {
        started: () =>
          this.port.post(worker, {
            t: 'mix',
            cmd: { op: 'join', roomId, legId, role: 'party', maxMembers: r.maxParties },
          }),
        closing: () => {
          r.members.delete(callKey);
          if (r.members.size > 0) {
            this.port.post(worker, { t: 'mix', cmd: { op: 'leave', legId } });
            return;
          }
          // The last one out closes the room; the next caller starts a new one, anywhere.
          this.port.post(worker, { t: 'mix', cmd: { op: 'close', roomId } });
          if (this.conferences.get(roomId) === r) this.conferences.delete(roomId);
        },
      }),
    };
  }

  /**
   * A supervisor joins `extension`'s active call in `mode`. 404 when the extension is in no
   * answered anchored call, 486 when that call is already monitored. `onMonitoredEnd` runs once
   * if the monitored call ends first (the supervisor is then hung up).
   */
  startMonitor(
    callKey: string,
    extension: string,
    mode: MonitorMode,
    onMonitoredEnd: () => void,
    wireKey?: string,
  ): MixJoin {
    const monitored = this.port.callOf(extension);
    if (!monitored) return { ok: false, status: 404, reason: `Not Found (no active call for ${extension})` };
    for (const s of this.monitors.values())
      if (s.monitored.callKey === monitored.callKey && !s.ended)
        return {
          ok: false,
          status: 486,
          reason: `Busy Here (the call of ${extension} is already monitored)`,
        };
    const opened = this.port.openLeg(callKey, monitored.worker, wireKey);
    if (!opened) return { ok: false, status: 503, reason: 'Service Unavailable (no media port)' };
    const roomId = `monitor:${callKey}`;
    const session: MonitorSession = {
      roomId,
      callKey,
      monitored,
      legId: opened.leg.legId,
      mode,
      ended: false,
      onMonitoredEnd,
    };
    this.monitors.set(callKey, session);
    this.monitorByLeg.set(session.legId, session);
    this.counters.monitors++;
    const worker = monitored.worker;
    const join = (legId: number, role: MixRole, whisperTo?: number): void =>
      this.port.post(worker, {
        t: 'mix',
        cmd: { op: 'join', roomId, legId, role, whisperTo, maxMembers: 3 },
      });
    return {
      ok: true,
      handle: this.wrap(opened.handle, {
        started: () => {
          if (session.ended) return;
          join(monitored.agentLegId, 'party');
          join(monitored.otherLegId, 'party');
          const r = roleOf(session);
          join(session.legId, r.role, r.whisperTo);
        },
        closing: () => {
          this.forgetMonitor(session);
          // Both legs of the call leave with the room: straight relay again from the next packet.
          this.port.post(worker, { t: 'mix', cmd: { op: 'close', roomId } });
        },
      }),
    };
  }

  /** The engine released an anchored call: a session monitoring it ends (the supervisor gets BYE). */
  onCallReleased(callKey: string): void {
    for (const s of [...this.monitors.values()]) {
      if (s.monitored.callKey !== callKey || s.ended) continue;
      // Out of the room before the call's legs close, so nothing is mixed onto a closed leg.
      this.port.post(s.monitored.worker, { t: 'mix', cmd: { op: 'close', roomId: s.roomId } });
      this.forgetMonitor(s);
      this.counters.monitoredEnded++;
      s.onMonitoredEnd();
    }
  }

  /** A digit from some leg: a supervisor's 4/5/6 switches its mode. True when it was one. */
  onDigit(legId: number, digit: string): boolean {
    const s = this.monitorByLeg.get(legId);
    const mode = DIGIT_MODES[digit];
    if (!s || s.ended || !mode) return false;
    this.setMode(s, mode);
    return true;
  }

  /** Change a supervisor's mode by its call key (API, tests). */
  setMonitorMode(callKey: string, mode: MonitorMode): boolean {
    const s = this.monitors.get(callKey);
    if (!s || s.ended) return false;
    this.setMode(s, mode);
    return true;
  }

  dump(): MixRoomsDump {
    return {
      counters: { ...this.counters },
      conferences: [...this.conferences.values()].map((r) => ({
        roomId: r.roomId,
        worker: r.worker ?? null,
        maxParties: r.maxParties,
        members: [...r.members],
      })),
      monitors: [...this.monitors.values()].map((s) => ({
        callKey: s.callKey,
        monitored: s.monitored.callKey,
        worker: s.monitored.worker,
        mode: s.mode,
      })),
    };
  }

  private setMode(s: MonitorSession, mode: MonitorMode): void {
    if (s.mode === mode) return;
    s.mode = mode;
    this.counters.modeChanges++;
    const r = roleOf(s);
    this.port.post(s.monitored.worker, {
      t: 'mix',
      cmd: { op: 'role', legId: s.legId, role: r.role, whisperTo: r.whisperTo },
    });
  }

  private forgetMonitor(s: MonitorSession): void {
    s.ended = true;
    if (this.monitors.get(s.callKey) === s) this.monitors.delete(s.callKey);
    if (this.monitorByLeg.get(s.legId) === s) this.monitorByLeg.delete(s.legId);
  }

  /** The service leg with the room's join after `start` and its leave before `close`. */
  private wrap(h: ServiceLegHandle, on: { started: () => void; closing: () => void }): MixLegHandle {
    let closing = false;
    return {
      ...h,
      start: (plan: ServiceLegPlan) => {
        h.start(plan);
        if (!closing) on.started();
      },
      close: () => {
        if (!closing) {
          closing = true;
          on.closing();
        }
        return h.close();
      },
    };
  }
}

function roleOf(s: MonitorSession): { role: MixRole; whisperTo?: number } {
  switch (s.mode) {
    case 'listen':
      return { role: 'listen' };
    case 'whisper':
      return { role: 'whisper', whisperTo: s.monitored.agentLegId };
    case 'barge':
      return { role: 'barge' };
    default: {
      const never: never = s.mode;
      throw new Error(`unknown monitor mode ${String(never)}`);
    }
  }
}
