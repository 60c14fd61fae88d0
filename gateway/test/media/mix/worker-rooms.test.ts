import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../../../base/clock.ts';
import { alawToLinear, linearToAlaw, linearToUlaw, ulawToLinear } from '../../../../base/signal/g711.ts';
import type { PacketHook } from '../../../src/media/rtp/relay-leg.ts';
import { parseRtp, writeRtpHeader } from '../../../src/media/rtp/rtp-packet.ts';
import { WorkerRooms, type RoomLeg } from '../../../src/media/mix/worker-rooms.ts';

const PCMU = { pcmu: 0, pcma: -1, telephoneEvent: 101 };
const PCMA = { pcmu: -1, pcma: 8, telephoneEvent: 101 };

interface FakeLeg extends RoomLeg {
  sent: Int16Array[];
  relayed: number;
  law: 'pcmu' | 'pcma';
  seq: number;
}

function fakeLeg(law: 'pcmu' | 'pcma'): FakeLeg {
  const leg: FakeLeg = {
    law,
    seq: 0,
    sent: [],
    relayed: 0,
    onPacket: undefined,
    sendFrame: (f) => {
      leg.sent.push(Int16Array.from(f));
      return true;
    },
  };
  // The relay's own processing: counts what it sees, forwards everything.
  leg.onPacket = () => {
    leg.relayed++;
    return true;
  };
  return leg;
}

/** One 20 ms packet of a constant level from the leg's peer, through the leg's hook. */
function receive(leg: FakeLeg, level: number): boolean {
  const b = Buffer.alloc(172);
  writeRtpHeader(b, {
    marker: false,
    payloadType: leg.law === 'pcmu' ? 0 : 8,
    sequenceNumber: leg.seq,
    timestamp: leg.seq * 160,
    ssrc: 7,
  });
  leg.seq++;
  b.fill(leg.law === 'pcmu' ? linearToUlaw(level) : linearToAlaw(level), 12);
  const view = parseRtp(b);
  assert.ok(view.ok);
  const hook = leg.onPacket as PacketHook;
  return hook(undefined as never, b, view.value);
}

function setup(laws: Array<'pcmu' | 'pcma'>) {
  const clock = new ManualClock();
  const legs = new Map<number, FakeLeg>(laws.map((l, i) => [i + 1, fakeLeg(l)]));
  const tickers = new Set<{ tick(): void }>();
  const rooms = new WorkerRooms({
    clock,
    legOf: (id) => legs.get(id),
    payloadMapOf: (id) => (legs.get(id)?.law === 'pcma' ? PCMA : PCMU),
    addTicker: (t) => tickers.add(t),
    removeTicker: (t) => tickers.delete(t),
  });
  /** 20 ms: every leg's peer sends its level, then the frame clock ticks. */
  const step = (levels: Record<number, number>) => {
    for (const [id, v] of Object.entries(levels)) receive(legs.get(Number(id)) as FakeLeg, v);
    clock.advance(20);
    for (const t of tickers) t.tick();
  };
  return { clock, legs, rooms, tickers, step };
}

const last = (leg: FakeLeg | undefined): number => leg?.sent.at(-1)?.[0] ?? NaN;

describe('worker rooms: legs mixed on the frame clock', () => {
  test('each member of a conference hears the sum of the others, not itself, µ-law and A-law members together', () => {
    const { legs, rooms, tickers, step } = setup(['pcmu', 'pcma', 'pcmu']);
    for (const id of [1, 2, 3])
      assert.ok(
        rooms.apply({ op: 'join', roomId: 'conference:*50', legId: id, role: 'party', maxMembers: 8 }).ok,
      );
    assert.equal(tickers.size, 1, 'the room ticks on the frame clock');
    const levels = { 1: 1000, 2: 2000, 3: 4000 };
    for (let i = 0; i < 10; i++) step(levels);
    const q = {
      1: ulawToLinear(linearToUlaw(1000)),
      2: alawToLinear(linearToAlaw(2000)),
      3: ulawToLinear(linearToUlaw(4000)),
    };
    assert.equal(last(legs.get(1)), q[2] + q[3]);
    assert.equal(last(legs.get(2)), q[1] + q[3]);
    assert.equal(last(legs.get(3)), q[1] + q[2]);
  });

  test('a member’s packets are consumed (not relayed) but its own processing still sees them; leaving restores the relay', () => {
    const { legs, rooms } = setup(['pcmu', 'pcmu']);
    const leg = legs.get(1) as FakeLeg;
    const before = leg.onPacket;
    assert.equal(receive(leg, 100), true, 'relayed before joining');
    assert.ok(rooms.apply({ op: 'join', roomId: 'r', legId: 1, role: 'party', maxMembers: 8 }).ok);
    assert.equal(receive(leg, 100), false, 'consumed while in the room');
    assert.equal(leg.relayed, 2, 'the leg’s own hook ran for both packets');
    rooms.apply({ op: 'leave', legId: 1 });
    assert.equal(leg.onPacket, before);
    assert.equal(receive(leg, 100), true);
  });

  test('a hook replaced while in the room is wrapped again by plug()', () => {
    const { legs, rooms } = setup(['pcmu']);
    const leg = legs.get(1) as FakeLeg;
    rooms.apply({ op: 'join', roomId: 'r', legId: 1, role: 'party', maxMembers: 8 });
    leg.onPacket = () => true;
    rooms.plug(1);
    assert.equal(receive(leg, 5), false);
  });

  test('room capacity: a member beyond maxMembers is refused', () => {
    const { rooms } = setup(['pcmu', 'pcmu', 'pcmu']);
    assert.ok(rooms.apply({ op: 'join', roomId: 'r', legId: 1, role: 'party', maxMembers: 2 }).ok);
    assert.ok(rooms.apply({ op: 'join', roomId: 'r', legId: 2, role: 'party', maxMembers: 2 }).ok);
    assert.equal(rooms.apply({ op: 'join', roomId: 'r', legId: 3, role: 'party', maxMembers: 2 }).ok, false);
  });

  const MODES: Array<{
    role: 'listen' | 'whisper' | 'barge';
    agentHearsSupervisor: boolean;
    callerHearsSupervisor: boolean;
  }> = [
    { role: 'listen', agentHearsSupervisor: false, callerHearsSupervisor: false },
    { role: 'whisper', agentHearsSupervisor: true, callerHearsSupervisor: false },
    { role: 'barge', agentHearsSupervisor: true, callerHearsSupervisor: true },
  ];
  for (const m of MODES) {
    test(`monitor ${m.role}: supervisor hears both; agent hears supervisor: ${m.agentHearsSupervisor}; caller: ${m.callerHearsSupervisor}`, () => {
      const { legs, rooms, step } = setup(['pcmu', 'pcmu', 'pcmu']);
      // 1 = agent, 2 = caller, 3 = supervisor (starts listening, then switches).
      rooms.apply({ op: 'join', roomId: 'm', legId: 1, role: 'party', maxMembers: 3 });
      rooms.apply({ op: 'join', roomId: 'm', legId: 2, role: 'party', maxMembers: 3 });
      rooms.apply({ op: 'join', roomId: 'm', legId: 3, role: 'listen', maxMembers: 3 });
      assert.ok(
        rooms.apply({ op: 'role', legId: 3, role: m.role, whisperTo: m.role === 'whisper' ? 1 : undefined })
          .ok,
      );
      const q = (v: number) => ulawToLinear(linearToUlaw(v));
      for (let i = 0; i < 10; i++) step({ 1: 1000, 2: 2000, 3: 4000 });
      assert.equal(last(legs.get(3)), q(1000) + q(2000), 'supervisor hears both parties');
      assert.equal(last(legs.get(1)), q(2000) + (m.agentHearsSupervisor ? q(4000) : 0));
      assert.equal(last(legs.get(2)), q(1000) + (m.callerHearsSupervisor ? q(4000) : 0));
    });
  }

  test('closing the last room stops the ticker and restores every member’s hook', () => {
    const { legs, rooms, tickers } = setup(['pcmu', 'pcmu']);
    const hooks = [legs.get(1)?.onPacket, legs.get(2)?.onPacket];
    rooms.apply({ op: 'join', roomId: 'r', legId: 1, role: 'party', maxMembers: 8 });
    rooms.apply({ op: 'join', roomId: 'r', legId: 2, role: 'party', maxMembers: 8 });
    rooms.apply({ op: 'close', roomId: 'r' });
    assert.equal(tickers.size, 0);
    assert.equal(rooms.size, 0);
    assert.deepEqual([legs.get(1)?.onPacket, legs.get(2)?.onPacket], hooks);
  });

  test('reordered packets are put back in order by the jitter buffer before mixing', () => {
    const { clock, legs, rooms, tickers } = setup(['pcmu', 'pcmu']);
    rooms.apply({ op: 'join', roomId: 'r', legId: 1, role: 'party', maxMembers: 8 });
    rooms.apply({ op: 'join', roomId: 'r', legId: 2, role: 'party', maxMembers: 8 });
    const a = legs.get(1) as FakeLeg;
    const levels = [100, 200, 300, 400, 500, 600, 700, 800];
    const order = [0, 2, 1, 3, 5, 4, 6, 7];
    for (const i of order) {
      a.seq = i;
      receive(a, levels[i] ?? 0);
    }
    // A burst of eight: the buffer measures 140 ms of spread and waits that long before playing.
    for (let i = 0; i < 20; i++) {
      clock.advance(20);
      for (const t of tickers) t.tick();
    }
    // After the last frame comes concealment (the last frame repeated, fading): not compared.
    const heard = (legs.get(2) as FakeLeg).sent
      .map((f) => f[0] ?? 0)
      .filter((v) => v !== 0)
      .slice(0, levels.length);
    assert.deepEqual(
      heard,
      levels.map((v) => ulawToLinear(linearToUlaw(v))),
    );
  });
});
