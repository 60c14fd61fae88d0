/**
 * The mixing rooms of one relay worker (conferences, monitored calls): which leg is in which room,
 * the packet hook that takes a member's RTP off the relay path into its room, and the room ticks on
 * the worker's 20 ms frame clock.
 *
 * A leg joining a room stops being relayed to its bridged peer: its hook consumes every packet
 * (after the leg's own processing — DTMF, recording — has seen it). Leaving restores the hook it
 * had, so a monitored call goes back to the straight relay; the leg's own outgoing stream (SSRC,
 * sequence, timestamp) simply continues from the last mixed frame (`RelayLeg.sendFrame`).
 */
import type { Clock } from '../../../../base/clock.ts';
import { err, ok, type Result } from '../../../../base/result.ts';
import type { LegPayloadMap } from '../codec/leg-codecs.ts';
import { MixRoom, type MixRoomDump } from './leg-mixer.ts';
import type { MixRole } from './mixer.ts';
import type { PacketHook } from '../rtp/relay-leg.ts';
import type { MixCommand } from './mix-command.ts';

/** What a room needs of a relay leg. */
export interface RoomLeg {
  onPacket: PacketHook | undefined;
  sendFrame(frame: Int16Array): boolean;
}

export interface FrameTickerPort {
  tick(): void;
}

export interface WorkerRoomsOptions {
  clock: Clock;
  legOf(legId: number): RoomLeg | undefined;
  /** The leg's negotiated payload types (from its last `codecs`). */
  payloadMapOf(legId: number): LegPayloadMap;
  addTicker(t: FrameTickerPort): void;
  removeTicker(t: FrameTickerPort): void;
}

export interface WorkerRoomsDump {
  refused: number;
  rooms: MixRoomDump[];
}

interface Plugged {
  hook: PacketHook;
  base: PacketHook | undefined;
}

export class WorkerRooms {
  private readonly rooms = new Map<string, MixRoom>();
  private readonly roomOf = new Map<number, MixRoom>();
  private readonly plugged = new Map<number, Plugged>();
  private ticking = false;
  private refused = 0;
  private readonly ticker: FrameTickerPort = { tick: () => this.tick() };

  constructor(private readonly opts: WorkerRoomsOptions) {}

  apply(cmd: MixCommand): Result<void> {
    switch (cmd.op) {
      case 'join':
        return this.join(cmd.roomId, cmd.legId, cmd.role, cmd.whisperTo, cmd.maxMembers);
      case 'role': {
        const room = this.roomOf.get(cmd.legId);
        if (!room) return this.refuse(`leg ${cmd.legId} is in no room`);
        const r = room.setRole(cmd.legId, cmd.role, cmd.whisperTo);
        if (!r.ok) this.refused++;
        return r;
      }
      case 'leave':
        this.leave(cmd.legId);
        return ok(undefined);
      case 'close':
        this.closeRoom(cmd.roomId);
        return ok(undefined);
      default: {
        const never: never = cmd;
        return this.refuse(`unknown mix command ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * (Re)install the room hook of a leg over whatever hook the leg has now: called when a member's
   * leg is bound or its processing is set up again, which replaces `onPacket`.
   */
  plug(legId: number): void {
    const room = this.roomOf.get(legId);
    const leg = this.opts.legOf(legId);
    if (!room || !leg) return;
    if (leg.onPacket !== undefined && leg.onPacket === this.plugged.get(legId)?.hook) return;
    const base = leg.onPacket;
    const hook: PacketHook = (l, datagram, view) => {
      base?.(l, datagram, view);
      room.receive(legId, datagram, view);
      return false;
    };
    leg.onPacket = hook;
    this.plugged.set(legId, { hook, base });
  }

  /** The leg negotiated again (re-INVITE): its room decodes by the new payload types. */
  setCodecs(legId: number, map: LegPayloadMap): void {
    this.roomOf.get(legId)?.setCodecs(legId, map);
  }

  /** The leg is closing: out of its room (the room itself stays until the engine closes it). */
  forget(legId: number): void {
    this.leave(legId);
  }

  tick(): void {
    for (const room of this.rooms.values()) room.tick();
  }

  get size(): number {
    return this.rooms.size;
  }

  close(): void {
    for (const id of [...this.rooms.keys()]) this.closeRoom(id);
  }

  dump(): WorkerRoomsDump {
    return { refused: this.refused, rooms: [...this.rooms.values()].map((r) => r.dump()) };
  }

  private join(
    roomId: string,
    legId: number,
    role: MixRole,
    whisperTo: number | undefined,
    maxMembers: number,
  ): Result<void> {
    if (this.roomOf.has(legId)) return this.refuse(`leg ${legId} is already in a room`);
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new MixRoom(roomId, { clock: this.opts.clock, maxMembers });
      this.rooms.set(roomId, room);
    }
    const added = room.add(legId, {
      role,
      whisperTo,
      codecs: this.opts.payloadMapOf(legId),
      send: (frame) => void this.opts.legOf(legId)?.sendFrame(frame),
    });
    if (!added.ok) {
      this.refused++;
      if (room.size === 0) this.closeRoom(roomId);
      return added;
    }
    this.roomOf.set(legId, room);
    this.plug(legId);
    if (!this.ticking) {
      this.ticking = true;
      this.opts.addTicker(this.ticker);
    }
    return ok(undefined);
  }

  private leave(legId: number): void {
    const room = this.roomOf.get(legId);
    if (!room) return;
    this.roomOf.delete(legId);
    room.remove(legId);
    const p = this.plugged.get(legId);
    this.plugged.delete(legId);
    const leg = this.opts.legOf(legId);
    // Back to what the leg did before (relay with its own processing), unless replaced meanwhile.
    if (p && leg && leg.onPacket === p.hook) leg.onPacket = p.base;
  }

  private closeRoom(roomId: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    for (const legId of room.legIds()) this.leave(legId);
    room.close();
    this.rooms.delete(roomId);
    if (this.rooms.size === 0 && this.ticking) {
      this.ticking = false;
      this.opts.removeTicker(this.ticker);
    }
  }

  private refuse(message: string): Result<void> {
    this.refused++;
    return err({ code: 'EDGE_ERR_MIX_REFUSED', message, field: 'legId' });
  }
}
