/**
 * Prompts on the signalling thread: WAV files of the data directory read and decoded once to the
 * engine's 8 kHz frames (µ-law, A-law, 8 or 16 kHz 16-bit PCM; 16 kHz is low-pass filtered and
 * decimated), kept by path and file version, and the music on hold currently configured. The
 * relay workers receive each prompt once (the engine caches them per worker by id); no call reads
 * a file.
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { err, ok, type ParseError, type Result } from '../../../../base/result.ts';
import { BUILTIN_MOH_ID, builtInMusicOnHold } from './moh-music.ts';
import { FRAME_SAMPLES } from '../../../../base/signal/pcm-frame.ts';
import { decodeWavToFrames } from '../../../../base/signal/wav.ts';

/** A decoded prompt: 8 kHz linear samples, a whole number of 20 ms frames. */
export interface PromptSource {
  /** Unique per content: a file's id changes when the file does. */
  id: string;
  samples: Int16Array;
}

/** Decode a WAV file's bytes to a prompt (the last frame padded with silence). */
export function promptFromWav(id: string, bytes: Uint8Array): Result<PromptSource> {
  const decoded = decodeWavToFrames(bytes);
  if (!decoded.ok) return decoded;
  const samples = new Int16Array(decoded.value.frames.length * FRAME_SAMPLES);
  decoded.value.frames.forEach((f, i) => samples.set(f, i * FRAME_SAMPLES));
  return ok({ id, samples });
}

export interface MusicOnHoldConfig {
  enabled: boolean;
  file?: string;
}

export interface PromptLibraryOptions {
  /** Relative prompt paths resolve here. */
  dataDir: string;
  logger: Logger;
}

export interface PromptLibraryDump {
  musicOnHold: {
    source: 'builtin' | 'file' | 'off';
    id: string | null;
    durationMs: number;
    /** Why the configured file was refused. */
    error: string | null;
  };
  cached: Array<{ id: string; frames: number }>;
}

/** Files kept decoded; the oldest goes first beyond this. */
const MAX_CACHED = 32;

export class PromptLibrary {
  private readonly cache = new Map<string, PromptSource>();
  private readonly builtIn: PromptSource = { id: BUILTIN_MOH_ID, samples: builtInMusicOnHold() };
  private moh: PromptSource | undefined = this.builtIn;
  private mohSource: 'builtin' | 'file' | 'off' = 'builtin';
  private mohError: string | undefined;

  constructor(private readonly opts: PromptLibraryOptions) {}

  /** Where a configured path points: relative paths are under the data directory. */
  resolve(file: string): string {
    return isAbsolute(file) ? file : join(this.opts.dataDir, file);
  }

  /** A prompt file decoded, from the cache while the file is unchanged. */
  async load(file: string): Promise<Result<PromptSource>> {
    const path = this.resolve(file);
    let id: string;
    try {
      const st = await stat(path);
      id = `file:${path}:${st.size}:${Math.round(st.mtimeMs)}`;
    } catch (e) {
      return err<ParseError>({
        code: 'EDGE_ERR_PROMPT_FILE_MISSING',
        message: `${path}: ${(e as Error).message}`,
        field: file,
      });
    }
    const hit = this.cache.get(path);
    if (hit?.id === id) return ok(hit);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (e) {
      return err<ParseError>({
        code: 'EDGE_ERR_PROMPT_FILE_UNREADABLE',
        message: `${path}: ${(e as Error).message}`,
        field: file,
      });
    }
    const decoded = promptFromWav(id, bytes);
    if (!decoded.ok)
      return err<ParseError>({ ...decoded.error, message: `${path}: ${decoded.error.message}` });
    this.cache.delete(path);
    this.cache.set(path, decoded.value);
    if (this.cache.size > MAX_CACHED) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return decoded;
  }

  /** The music on hold to play now; undefined when it is turned off. */
  musicOnHold(): PromptSource | undefined {
    return this.moh;
  }

  /**
   * Apply `media.musicOnHold`: the configured file when it loads, else the built-in loop (with a
   * warning naming the file and what is wrong with it).
   */
  async configureMusicOnHold(cfg: MusicOnHoldConfig): Promise<void> {
    this.mohError = undefined;
    if (!cfg.enabled) {
      this.moh = undefined;
      this.mohSource = 'off';
      return;
    }
    if (cfg.file === undefined || cfg.file === '') {
      this.moh = this.builtIn;
      this.mohSource = 'builtin';
      return;
    }
    const r = await this.load(cfg.file);
    if (r.ok) {
      this.moh = r.value;
      this.mohSource = 'file';
      return;
    }
    this.mohError = `${r.error.code}: ${r.error.message}`;
    this.opts.logger.warn(
      { file: cfg.file, code: r.error.code, error: r.error.message },
      'music on hold file refused, playing the built-in music',
    );
    this.moh = this.builtIn;
    this.mohSource = 'builtin';
  }

  dump(): PromptLibraryDump {
    return {
      musicOnHold: {
        source: this.mohSource,
        id: this.moh?.id ?? null,
        durationMs: this.moh ? (this.moh.samples.length / 8000) * 1000 : 0,
        error: this.mohError ?? null,
      },
      cached: [...this.cache.values()].map((p) => ({ id: p.id, frames: p.samples.length / FRAME_SAMPLES })),
    };
  }

  close(): void {
    this.cache.clear();
  }
}
