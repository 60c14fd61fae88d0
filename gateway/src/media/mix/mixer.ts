/**
 * Conference mixer: up to eight members, one 20 ms frame each per tick.
 *
 * Each talking member hears the sum of the others (N−1 mixing: the full sum minus its own input,
 * so nobody hears their own echo), computed in 32-bit and saturated to 16 bits once at the end, so
 * the result is exact whenever it fits. Supervisor modes for contact-centre monitoring:
 * - `listen`: hears every talking member, is heard by nobody;
 * - `whisper`: hears every talking member, is heard only by the member it coaches (the agent),
 *   never by the caller;
 * - `barge`: joins as an ordinary talking member (`party`).
 * A member that sent nothing this tick contributes silence.
 */
import { err, ok, type Result, type ParseError } from '../../../../base/result.ts';
import { FRAME_SAMPLES, saturate16 } from '../../../../base/signal/pcm-frame.ts';

export type MixRole = 'party' | 'listen' | 'whisper' | 'barge';

export interface MemberOptions {
  role?: MixRole;
  /** For `whisper`: the member who hears the supervisor. */
  whisperTo?: string;
}

interface Member {
  id: string;
  role: MixRole;
  whisperTo: string | undefined;
  input: Int16Array;
  hasInput: boolean;
  output: Int16Array;
}

export const MAX_CONFERENCE_MEMBERS = 8;

export interface ConferenceDump {
  ticks: number;
  members: Array<{ id: string; role: MixRole; whisperTo: string | undefined }>;
}

function talks(role: MixRole): boolean {
  switch (role) {
    case 'party':
    case 'barge':
      return true;
    case 'listen':
    case 'whisper':
      return false;
    default: {
      const never: never = role;
      throw new Error(`unreachable role ${String(never)}`);
    }
  }
}

export class Conference {
  private readonly members = new Map<string, Member>();
  private readonly outputs = new Map<string, Int16Array>();
  private readonly total = new Int32Array(FRAME_SAMPLES);
  private readonly scratch = new Int32Array(FRAME_SAMPLES);
  private readonly maxMembers: number;
  private ticks = 0;
  private closed = false;

  constructor(opts: { maxMembers?: number } = {}) {
    this.maxMembers = opts.maxMembers ?? MAX_CONFERENCE_MEMBERS;
  }

  get size(): number {
    return this.members.size;
  }

  add(id: string, opts: MemberOptions = {}): Result<void> {
    if (this.closed)
      return err({ code: 'EDGE_ERR_MIX_CLOSED', message: 'conference is closed', field: 'id' });
    if (this.members.has(id))
      return err({ code: 'EDGE_ERR_MIX_MEMBER_EXISTS', message: `${id} is already a member`, field: 'id' });
    if (this.members.size >= this.maxMembers)
      return err({
        code: 'EDGE_ERR_MIX_FULL',
        message: `conference holds at most ${this.maxMembers} members`,
        field: 'id',
      });
    const role = opts.role ?? 'party';
    const checked = this.checkWhisper(id, role, opts.whisperTo);
    if (!checked.ok) return checked;
    const output = new Int16Array(FRAME_SAMPLES);
    this.members.set(id, {
      id,
      role,
      whisperTo: opts.whisperTo,
      input: new Int16Array(FRAME_SAMPLES),
      hasInput: false,
      output,
    });
    this.outputs.set(id, output);
    return ok(undefined);
  }

  remove(id: string): boolean {
    this.outputs.delete(id);
    return this.members.delete(id);
  }

  /** Change a supervisor's mode (listen → whisper → barge) without leaving the conference. */
  setRole(id: string, role: MixRole, whisperTo?: string): Result<void> {
    const m = this.members.get(id);
    if (!m)
      return err({ code: 'EDGE_ERR_MIX_MEMBER_UNKNOWN', message: `${id} is not a member`, field: 'id' });
    const checked = this.checkWhisper(id, role, whisperTo);
    if (!checked.ok) return checked;
    m.role = role;
    m.whisperTo = whisperTo;
    return ok(undefined);
  }

  /** This tick's audio from a member (copied). */
  put(id: string, frame: Int16Array): void {
    const m = this.members.get(id);
    if (!m || frame.length !== FRAME_SAMPLES) return;
    m.input.set(frame);
    m.hasInput = true;
  }

  /**
   * Mix one tick: what each member hears. The arrays are reused from tick to tick; inputs are
   * consumed, so a member that sends nothing next tick is silent.
   */
  mix(): ReadonlyMap<string, Int16Array> {
    const total = this.total;
    total.fill(0);
    for (const m of this.members.values()) {
      if (!m.hasInput) m.input.fill(0);
      if (talks(m.role))
        for (let i = 0; i < FRAME_SAMPLES; i++) total[i] = (total[i] ?? 0) + (m.input[i] ?? 0);
    }
    const acc = this.scratch;
    for (const m of this.members.values()) {
      const own = talks(m.role) ? m.input : undefined;
      for (let i = 0; i < FRAME_SAMPLES; i++) acc[i] = (total[i] ?? 0) - (own ? (own[i] ?? 0) : 0);
      if (own) {
        for (const w of this.members.values()) {
          if (w.role !== 'whisper' || w.whisperTo !== m.id) continue;
          for (let i = 0; i < FRAME_SAMPLES; i++) acc[i] = (acc[i] ?? 0) + (w.input[i] ?? 0);
        }
      }
      const out = m.output;
      for (let i = 0; i < FRAME_SAMPLES; i++) out[i] = saturate16(acc[i] ?? 0);
    }
    this.ticks++;
    for (const m of this.members.values()) m.hasInput = false;
    return this.outputs;
  }

  close(): void {
    this.closed = true;
    this.members.clear();
    this.outputs.clear();
  }

  dump(): ConferenceDump {
    return {
      ticks: this.ticks,
      members: [...this.members.values()].map((m) => ({ id: m.id, role: m.role, whisperTo: m.whisperTo })),
    };
  }

  private checkWhisper(id: string, role: MixRole, whisperTo: string | undefined): Result<void> {
    if (role !== 'whisper') return ok(undefined);
    const target = whisperTo === undefined ? undefined : this.members.get(whisperTo);
    if (!target || target.id === id || !talks(target.role))
      return err<ParseError>({
        code: 'EDGE_ERR_MIX_WHISPER_TARGET',
        message: 'whisper needs a talking member to coach',
        field: 'whisperTo',
      });
    return ok(undefined);
  }
}
