/**
 * The media engine as call control sees it (`LocalMediaPort`), faked for the in-process tests of
 * apps on legs: it records what call control asks of it — opens (with the kind of media asked for
 * and the description it gave back), plays (ended by the test, or by themselves after their
 * length on the manual clock), answers applied, bridges and closes — and decides only whether a
 * far party's SDP is usable. A test refuses opens (a full room, no port), holds them (`gate`) and
 * ends a leg's media by itself (`endMedia`: the monitored call was released). The
 * engine, its sockets and workers are left out: media has tests of its own, and call control's
 * tests look at its decisions, not at RTP.
 */
import type { ManualClock, TimerHandle } from '../../../base/clock.ts';
import type { DtmfDigit } from '../../../base/signal/dtmf-digits.ts';
import type { AnswerMedia, DigitPress } from '../../src/call/leg.ts';
import type {
  HandlePlayEnded,
  HandleRecording,
  LocalMediaOpen,
  LocalMediaPort,
  LocalMediaWant,
} from '../../src/call/leg-media.ts';
import type { PromptSource } from '../../src/media/play/prompt-library.ts';
import { parseSdp } from '../../src/media/sdp/sdp.ts';

/** 8 kHz: samples per millisecond of a prompt. */
const SAMPLES_PER_MS = 8;

export interface MediaOpen {
  key: string;
  /** The far party's offer, or undefined: the gateway offers (an originated leg, a late offer). */
  offer: string | undefined;
  nearKey: string | undefined;
  /** The kind of media asked for (`prompt` when the leg asked for none). */
  media: AnswerMedia;
  /** What the engine gave back: the answer to `offer`, or our offer; empty when wired. */
  sdp: string;
  /** The frame leg the media leg was wired to (a PSTN caller's), if it was. */
  wiredTo: string | undefined;
  closed: boolean;
}

export interface MediaPlay {
  key: string;
  ids: string[];
  loop: boolean;
  bargeIn: boolean;
  /** How it ended, once it has (`closed`: the leg's media was freed while it played). */
  outcome: HandlePlayEnded['outcome'] | 'closed' | undefined;
}

export interface MediaBridge {
  a: string;
  b: string;
  unbridged: boolean;
}

interface LivePlay {
  play: MediaPlay;
  onEnded: (e: HandlePlayEnded) => void;
  startedAtMs: number;
  timer: TimerHandle | undefined;
}

/** An SDP a far party may answer with: it parses and has an audio stream on a port. */
export function usableAudio(sdp: Buffer): boolean {
  const parsed = parseSdp(sdp);
  return parsed.ok && parsed.value.media.some((m) => m.type === 'audio' && m.port > 0);
}

export class FakeLocalMedia implements LocalMediaPort {
  readonly opens: MediaOpen[] = [];
  readonly plays: MediaPlay[] = [];
  /** Every `applyAnswer`: the far party's SDP and whether it was taken. */
  readonly answers: Array<{ key: string; sdp: string; accepted: boolean }> = [];
  readonly bridges: MediaBridge[] = [];
  /** Keys in the order their media was freed. */
  readonly closes: string[] = [];
  /** `LegMediaHandle.record` calls; `stop` completes the file after `durationMs` of clock time. */
  readonly recordings: Array<{
    key: string;
    recordingId: string;
    startedAtMs: number;
    stopped: boolean;
    stop(): void;
  }> = [];
  /**
   * Which opens are refused, and how (no media port, an offer we cannot answer, a full room, no
   * call to monitor); by default none. A refused open is not listed in `opens`: no port was taken.
   */
  refuse: (key: string, media: AnswerMedia) => { status: number; reason: string } | undefined = () =>
    undefined;
  /** Set to hold every `open` until the test resolves it. */
  gate: Promise<void> | undefined;
  /** A prompt played once ends by itself when it has played out; off, only `endPlay` ends it. */
  playsEndByThemselves = true;
  /**
   * Whether a PSTN caller's media leg is wired to its frame leg (as when both share a worker);
   * false: the frame leg's offer is asked for and answered, as over RTP.
   */
  wires = true;
  /** Whether an answer from a far party is usable. */
  acceptAnswer: (sdp: Buffer) => boolean = usableAudio;
  private readonly live = new Map<string, LivePlay[]>();
  private readonly digitSinks = new Map<string, (press: DigitPress) => void>();
  private readonly endSinks = new Map<string, (detail: string) => void>();
  /** Ends asked for while the open was held: delivered as soon as the media is open. */
  private readonly endsPending = new Map<string, string>();

  constructor(
    private readonly clock: ManualClock,
    private readonly address: string,
  ) {}

  async open(
    key: string,
    offer: Buffer | undefined,
    onDigit: (press: DigitPress) => void,
    nearKey?: string,
    want: LocalMediaWant = {},
  ): Promise<LocalMediaOpen> {
    const media = want.media ?? { kind: 'prompt' };
    if (this.gate) await this.gate;
    const refused = this.refuse(key, media);
    if (refused) return { ok: false, ...refused };
    const n = this.opens.length;
    const wired = want.wire !== undefined && this.wires;
    if (want.wire && !wired) {
      offer = want.wire.offer();
      if (!offer) return { ok: false, status: 503, reason: 'Service Unavailable (no media port)' };
    }
    const sdp = wired
      ? ''
      : `v=0\r\no=edgeline ${1000 + n} 1 IN IP4 ${this.address}\r\ns=${key}\r\nc=IN IP4 ${this.address}\r\n` +
        `t=0 0\r\nm=audio ${30000 + 2 * n} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n` +
        `a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n`;
    const opened: MediaOpen = {
      key,
      offer: offer?.toString(),
      nearKey,
      media,
      sdp,
      wiredTo: wired ? want.wire?.key : undefined,
      closed: false,
    };
    this.opens.push(opened);
    this.digitSinks.set(key, onDigit);
    const onEnded = want.onEnded;
    if (onEnded) this.endSinks.set(key, onEnded);
    const pending = this.endsPending.get(key);
    this.endsPending.delete(key);
    if (pending !== undefined) this.endMedia(key, pending);
    return {
      ok: true,
      sdp: Buffer.from(sdp),
      wired,
      handle: {
        play: (prompts, o) => !opened.closed && this.startPlay(key, prompts, o),
        applyAnswer: (answer) => {
          const accepted = !opened.closed && this.acceptAnswer(answer);
          this.answers.push({ key, sdp: answer.toString(), accepted });
          return accepted;
        },
        stopPlay: () => this.endPlays(key, 'stopped'),
        record: (recordingId) => (opened.closed ? undefined : this.startRecording(key, recordingId)),
        close: () => {
          if (!opened.closed) {
            opened.closed = true;
            // As the engine does: a leg's recordings end with its media.
            for (const r of this.recordings) if (r.key === key) r.stop();
            this.endPlays(key, 'closed');
            if (this.digitSinks.get(key) === onDigit) this.digitSinks.delete(key);
            if (onEnded && this.endSinks.get(key) === onEnded) this.endSinks.delete(key);
            this.closes.push(key);
          }
          return Promise.resolve();
        },
      },
    };
  }

  bridge(keyA: string, keyB: string): { unbridge(): void } | undefined {
    const open = (k: string) => this.opens.some((o) => o.key === k && !o.closed);
    if (!open(keyA) || !open(keyB)) return undefined;
    const b: MediaBridge = { a: keyA, b: keyB, unbridged: false };
    this.bridges.push(b);
    return {
      unbridge: () => {
        b.unbridged = true;
      },
    };
  }

  musicOnHold(): PromptSource | undefined {
    return undefined;
  }

  /** The play running on `key` (the last one started and not ended). */
  playing(key: string): MediaPlay | undefined {
    return this.live.get(key)?.at(-1)?.play;
  }

  /** End what plays on `key` as the engine would report it (a prompt played out, a barge-in digit). */
  endPlay(key: string, outcome: 'finished' | 'interrupted', digit?: DtmfDigit): void {
    this.endPlays(key, outcome, digit);
  }

  /** A key press in the media of `key` (RFC 4733). */
  press(key: string, digit: DtmfDigit): void {
    this.digitSinks.get(key)?.({ digit, durationMs: 100, source: 'rfc4733', atMs: this.clock.wallNow() });
  }

  /**
   * The media of `key` ends by itself, as the engine reports a monitored call released: once. An
   * open still held (`gate`) gets it as soon as its media is open, before the leg has answered.
   */
  endMedia(key: string, detail = 'the monitored call ended'): void {
    const to = this.endSinks.get(key);
    this.endSinks.delete(key);
    if (to) to(detail);
    else if (!this.opens.some((o) => o.key === key)) this.endsPending.set(key, detail);
  }

  /** The open of `key` (the last one). */
  openOf(key: string): MediaOpen | undefined {
    return this.opens.findLast((o) => o.key === key);
  }

  /** Keys whose media was opened and never freed. */
  unreleased(): string[] {
    return this.opens.filter((o) => !o.closed).map((o) => o.key);
  }

  /** Bridges never ended. */
  joined(): MediaBridge[] {
    return this.bridges.filter((b) => !b.unbridged);
  }

  private startRecording(key: string, recordingId: string): HandleRecording {
    let done: (c: { path: string; durationMs: number }) => void = () => undefined;
    const closed = new Promise<{ path: string; durationMs: number }>((r) => (done = r));
    const path = `/recordings/${recordingId}.wav`;
    const rec = {
      key,
      recordingId,
      startedAtMs: this.clock.now(),
      stopped: false,
      stop: () => {
        if (rec.stopped) return;
        rec.stopped = true;
        done({ path, durationMs: this.clock.now() - rec.startedAtMs });
      },
    };
    this.recordings.push(rec);
    return { path, closed, stop: rec.stop };
  }

  private startPlay(
    key: string,
    prompts: readonly PromptSource[],
    o: { loop: boolean; bargeIn: boolean; onEnded: (e: HandlePlayEnded) => void },
  ): boolean {
    const play: MediaPlay = {
      key,
      ids: prompts.map((p) => p.id),
      loop: o.loop,
      bargeIn: o.bargeIn,
      outcome: undefined,
    };
    this.plays.push(play);
    const live: LivePlay = { play, onEnded: o.onEnded, startedAtMs: this.clock.now(), timer: undefined };
    const plays = this.live.get(key) ?? [];
    plays.push(live);
    this.live.set(key, plays);
    // A prompt played once ends by itself when it has played out; a loop runs until stopped.
    if (!o.loop && this.playsEndByThemselves) {
      const lengthMs = prompts.reduce((ms, p) => ms + p.samples.length / SAMPLES_PER_MS, 0);
      live.timer = this.clock.start('fake-play', lengthMs, () => this.finishLive(key, live, 'finished'));
    }
    return true;
  }

  private endPlays(key: string, outcome: MediaPlay['outcome'] & string, digit?: DtmfDigit): void {
    for (const live of [...(this.live.get(key) ?? [])]) this.finishLive(key, live, outcome, digit);
  }

  private finishLive(
    key: string,
    live: LivePlay,
    outcome: MediaPlay['outcome'] & string,
    digit?: string,
  ): void {
    const plays = this.live.get(key) ?? [];
    const i = plays.indexOf(live);
    if (i < 0) return;
    plays.splice(i, 1);
    if (plays.length === 0) this.live.delete(key);
    live.timer?.cancel();
    live.play.outcome = outcome;
    // Freed media reports nothing: the leg settles its own play when its media goes.
    if (outcome === 'closed') return;
    const positionMs = Math.round(this.clock.now() - live.startedAtMs);
    live.onEnded({ outcome, positionMs, ...(digit === undefined ? {} : { digit }) });
  }
}
