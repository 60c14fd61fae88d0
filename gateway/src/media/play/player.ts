/**
 * Prompt player: hands out a playlist of decoded prompts one 20 ms frame at a time, on demand of
 * the engine's frame clock. Music on hold loops the playlist. A digit stops a prompt marked
 * interruptible (barge-in) and the player reports where it stopped, so an IVR can tell "heard the
 * whole menu" from "cut it short at 2.3 s".
 *
 * Sans-I/O: prompts arrive already decoded (see `decodeWavToFrames`); the player never reads files.
 */
import { FRAME_MS } from '../../../../base/signal/pcm-frame.ts';

export interface Prompt {
  /** Name shown in dumps and events (a file name, a prompt id). */
  id: string;
  /** 20 ms frames at 8 kHz. Handed out by reference: they must not be modified while playing. */
  frames: readonly Int16Array[];
  /** A digit received while this prompt plays stops the playlist. */
  interruptible?: boolean;
}

export interface PlayOptions {
  /** Start over from the first prompt after the last (music on hold). */
  loop?: boolean;
}

/** Where a playlist stopped. */
export interface PlayPosition {
  promptId: string;
  promptIndex: number;
  /** Frames of that prompt already handed out. */
  frameIndex: number;
  /** The same, in milliseconds. */
  offsetMs: number;
  /** Frames handed out since play() across the whole playlist (and loops). */
  totalFrames: number;
}

export type PlayerEvent =
  | { type: 'prompt-started'; promptId: string; promptIndex: number }
  | { type: 'finished'; totalFrames: number }
  | { type: 'interrupted'; digit: string; at: PlayPosition }
  | { type: 'stopped'; at: PlayPosition };

export type PlayerState = 'idle' | 'playing' | 'finished' | 'interrupted' | 'stopped' | 'closed';

export interface PlayerDump extends PlayPosition {
  state: PlayerState;
  loop: boolean;
  prompts: Array<{ id: string; frames: number; interruptible: boolean }>;
}

const EDGES: Record<PlayerState, readonly PlayerState[]> = {
  idle: ['playing', 'closed'],
  playing: ['playing', 'finished', 'interrupted', 'stopped', 'closed'],
  finished: ['playing', 'closed'],
  interrupted: ['playing', 'closed'],
  stopped: ['playing', 'closed'],
  closed: [],
};

export class Player {
  private _state: PlayerState = 'idle';
  private playlist: readonly Prompt[] = [];
  private loop = false;
  private promptIndex = 0;
  private frameIndex = 0;
  private totalFrames = 0;
  private announced = false;

  constructor(private readonly onEvent: (e: PlayerEvent) => void = () => {}) {}

  get state(): PlayerState {
    return this._state;
  }

  /** Start a playlist, replacing whatever was playing. */
  play(prompts: Prompt | readonly Prompt[], opts: PlayOptions = {}): boolean {
    const list = Array.isArray(prompts) ? (prompts as readonly Prompt[]) : [prompts as Prompt];
    if (!this.transition('playing')) return false;
    this.playlist = list;
    this.loop = opts.loop ?? false;
    this.promptIndex = 0;
    this.frameIndex = 0;
    this.totalFrames = 0;
    this.announced = false;
    return true;
  }

  /** Append to the playlist that is playing (or start one when idle). */
  enqueue(prompt: Prompt): void {
    if (this._state === 'playing') this.playlist = [...this.playlist, prompt];
    else this.play(prompt);
  }

  /** The next frame, or undefined when nothing plays (the caller sends its own silence or audio). */
  next(): Int16Array | undefined {
    if (this._state !== 'playing') return undefined;
    // Skip empty prompts; a looping playlist with no frames at all would spin, so it finishes.
    let skipped = 0;
    for (;;) {
      const prompt = this.playlist[this.promptIndex];
      if (!prompt) {
        if (this.loop && this.totalFrames > 0) {
          this.promptIndex = 0;
          this.frameIndex = 0;
          this.announced = false;
          continue;
        }
        this.transition('finished');
        this.onEvent({ type: 'finished', totalFrames: this.totalFrames });
        return undefined;
      }
      if (!this.announced) {
        this.announced = true;
        this.onEvent({ type: 'prompt-started', promptId: prompt.id, promptIndex: this.promptIndex });
      }
      const frame = prompt.frames[this.frameIndex];
      if (frame) {
        this.frameIndex++;
        this.totalFrames++;
        return frame;
      }
      this.promptIndex++;
      this.frameIndex = 0;
      this.announced = false;
      if (++skipped > this.playlist.length + 1) {
        this.transition('finished');
        this.onEvent({ type: 'finished', totalFrames: this.totalFrames });
        return undefined;
      }
    }
  }

  /**
   * A DTMF digit arrived. Barge-in: if the prompt playing is interruptible, the playlist stops and
   * the position is returned; otherwise the digit is left for the application and undefined is
   * returned.
   */
  onDigit(digit: string): PlayPosition | undefined {
    if (this._state !== 'playing') return undefined;
    const prompt = this.playlist[this.promptIndex];
    if (!prompt?.interruptible) return undefined;
    const at = this.position();
    this.transition('interrupted');
    this.onEvent({ type: 'interrupted', digit, at });
    return at;
  }

  /** Stop by the application (hang-up, transfer); reports the position. */
  stop(): PlayPosition | undefined {
    if (this._state !== 'playing') return undefined;
    const at = this.position();
    this.transition('stopped');
    this.onEvent({ type: 'stopped', at });
    return at;
  }

  position(): PlayPosition {
    const prompt = this.playlist[this.promptIndex];
    return {
      promptId: prompt?.id ?? '',
      promptIndex: this.promptIndex,
      frameIndex: this.frameIndex,
      offsetMs: this.frameIndex * FRAME_MS,
      totalFrames: this.totalFrames,
    };
  }

  close(): void {
    this.transition('closed');
    this.playlist = [];
  }

  dump(): PlayerDump {
    return {
      state: this._state,
      loop: this.loop,
      prompts: this.playlist.map((p) => ({
        id: p.id,
        frames: p.frames.length,
        interruptible: p.interruptible ?? false,
      })),
      ...this.position(),
    };
  }

  private transition(to: PlayerState): boolean {
    if (!EDGES[this._state].includes(to)) return false;
    this._state = to;
    return true;
  }
}
