/**
 * Control of a relay worker's mixing rooms: one `ToWorker` message kind, sent by the engine and
 * applied by `WorkerRooms`. Plain data in a file of its own, so that the message protocol and the
 * rooms that obey it both depend on it and not on each other (the rooms use the relay leg, which
 * uses the protocol).
 */
import type { MixRole } from './mixer.ts';

export type MixCommand =
  | { op: 'join'; roomId: string; legId: number; role: MixRole; whisperTo?: number; maxMembers: number }
  | { op: 'role'; legId: number; role: MixRole; whisperTo?: number }
  | { op: 'leave'; legId: number }
  | { op: 'close'; roomId: string };
