import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/store/config-validate.ts';
import { branchOfficeDoc } from './pstn-config-fixture.ts';

type Loose = Record<string, unknown>;
/** The fixture as plain JSON that each case may bend out of shape. */
interface Doc {
  pstn: { lines: Loose[]; spans: Loose[]; groups: Array<{ id: string; members: string[] }> };
  routes: {
    outbound: Array<Loose & { targets?: Array<{ type: string; id: string }> }>;
    inbound: Array<Loose & { destination: Loose }>;
  };
  ringGroups: Array<Loose & { members: string[] }>;
  timeConditions: Array<Loose & { hours: Loose[]; holidays?: string[] }>;
}
const base = (): Doc => structuredClone(branchOfficeDoc);

/** Each case changes the branch office configuration; the problem must name this path. */
const cases: Array<{ rule: string; change: (d: Doc) => void; field: string; message: RegExp }> = [
  {
    rule: 'a line on a port the card does not have',
    change: (d) => d.pstn.lines.push({ id: 'fxo5', card: 'sim0', port: 5 }),
    field: '/pstn/lines/4/port',
    message: /card 'sim0' has 4 FXO ports/,
  },
  {
    rule: 'two lines on one port',
    change: (d) => d.pstn.lines.push({ id: 'fxo9', card: 'sim0', port: 2 }),
    field: '/pstn/lines/4/port',
    message: /already used by \/pstn\/lines\/1/,
  },
  {
    rule: 'a span the card does not have',
    change: (d) => d.pstn.spans.push({ id: 'e1-2', card: 'sim0', span: 2, channels: '1' }),
    field: '/pstn/spans/1/span',
    message: /has 1 E1 span$/,
  },
  {
    rule: 'a line and a span sharing an id',
    change: (d) => d.pstn.spans.push({ id: 'fxo1', card: 'sim0', span: 1, channels: '3' }),
    field: '/pstn/spans/1/id',
    message: /duplicates the line or span id at \/pstn\/lines\/0\/id/,
  },
  {
    rule: 'a group naming a missing line',
    change: (d) => d.pstn.groups[0]?.members.push('fxo7'),
    field: '/pstn/groups/0/members/3',
    message: /unknown line or span 'fxo7'/,
  },
  {
    rule: 'an outbound route to a group with no line that dials out',
    change: (d) => {
      d.pstn.groups.push({ id: 'in-only', members: ['fxo4'] });
      d.routes.outbound[0]?.targets?.push({ type: 'group', id: 'in-only' });
    },
    field: '/routes/outbound/0/targets/1/id',
    message: /has no line that dials out/,
  },
  {
    rule: 'an outbound route naming a missing trunk target',
    change: (d) => d.routes.outbound[0]?.targets?.push({ type: 'trunk', id: 'ghost' }),
    field: '/routes/outbound/0/targets/1/id',
    message: /unknown trunk 'ghost'/,
  },
  {
    rule: 'an outbound route giving both trunks and targets',
    change: (d) => Object.assign(d.routes.outbound[0] ?? {}, { trunks: ['cloud'] }),
    field: '/routes/outbound/0/trunks',
    message: /either trunks or targets/,
  },
  {
    rule: 'an outbound schedule naming a missing time condition',
    change: (d) =>
      Object.assign(d.routes.outbound[1] ?? {}, { schedule: { timeCondition: 'lunch', active: 'open' } }),
    field: '/routes/outbound/1/schedule/timeCondition',
    message: /unknown time condition 'lunch'/,
  },
  {
    rule: 'an inbound route naming a missing group',
    change: (d) =>
      d.routes.inbound.push({ id: 'x', group: 'ghost', destination: { type: 'extension', target: '1001' } }),
    field: '/routes/inbound/9/group',
    message: /unknown port group 'ghost'/,
  },
  {
    rule: 'an inbound route on an outbound-only line',
    change: (d) => {
      Object.assign(d.pstn.lines[2] ?? {}, { direction: 'out' });
      d.routes.inbound.push({ id: 'x', line: 'fxo3', destination: { type: 'extension', target: '1001' } });
    },
    field: '/routes/inbound/9/line',
    message: /takes no inbound calls/,
  },
  {
    rule: 'an inbound route with two sources',
    change: (d) =>
      d.routes.inbound.push({
        id: 'x',
        trunk: 'cloud',
        line: 'fxo1',
        destination: { type: 'extension', target: '1001' },
      }),
    field: '/routes/inbound/9/line',
    message: /only one of trunk, line or group/,
  },
  {
    rule: 'a caller ID pattern that does not compile',
    change: (d) =>
      d.routes.inbound.push({
        id: 'x',
        callerId: '13[8',
        destination: { type: 'extension', target: '1001' },
      }),
    field: '/routes/inbound/9/callerId',
    message: /digit set/,
  },
  {
    rule: 'a time condition destination naming a missing condition',
    change: (d) => Object.assign(d.routes.inbound[6]?.destination ?? {}, { target: 'lunch' }),
    field: '/routes/inbound/6/destination/target',
    message: /unknown time-condition 'lunch'/,
  },
  {
    rule: 'a time condition without its closed branch',
    change: (d) => delete (d.routes.inbound[6]?.destination as { whenClosed?: unknown }).whenClosed,
    field: '/routes/inbound/6/destination/whenClosed',
    message: /is required/,
  },
  {
    rule: 'branches on a destination that is not a time condition',
    change: (d) =>
      Object.assign(d.routes.inbound[0]?.destination ?? {}, {
        whenOpen: { type: 'extension', target: '1001' },
      }),
    field: '/routes/inbound/0/destination/whenOpen',
    message: /only for a time-condition/,
  },
  {
    rule: 'a ring group member that is not an extension',
    change: (d) => d.ringGroups[0]?.members.push('1999'),
    field: '/ringGroups/0/members/2',
    message: /unknown extension '1999'/,
  },
  {
    rule: 'a holiday that is not a calendar date',
    change: (d) => d.timeConditions[0]?.holidays?.push('2026-02-30'),
    field: '/timeConditions/0/holidays/1',
    message: /not a calendar date/,
  },
  {
    rule: 'an empty opening period',
    change: (d) => d.timeConditions[0]?.hours.push({ days: ['sat'], from: '10:00', to: '10:00' }),
    field: '/timeConditions/0/hours/1/to',
    message: /empty period/,
  },
  // Loops between routes.
  {
    rule: 'LOOP: a time condition nested inside its own branch',
    change: (d) =>
      Object.assign(d.routes.inbound[6]?.destination ?? {}, {
        whenClosed: {
          type: 'time-condition',
          target: 'night',
          whenOpen: { type: 'ivr', target: 'night' },
          whenClosed: {
            type: 'time-condition',
            target: 'office',
            whenOpen: { type: 'extension', target: '1001' },
            whenClosed: { type: 'extension', target: '1002' },
          },
        },
      }),
    field: '/routes/inbound/6/destination/whenClosed/whenClosed/target',
    message: /loops: time condition 'office' is nested inside itself/,
  },
  {
    rule: 'LOOP: a ring group whose no-answer destination is itself',
    change: (d) =>
      Object.assign(d.ringGroups[0] ?? {}, { noAnswer: { type: 'ring-group', target: 'sales' } }),
    field: '/ringGroups/0/noAnswer/target',
    message: /loops: ring group 'sales' → 'sales'/,
  },
  {
    rule: 'LOOP: two ring groups passing an unanswered call to each other through a time condition',
    change: (d) => {
      Object.assign(d.ringGroups[0] ?? {}, { noAnswer: { type: 'ring-group', target: 'support' } });
      Object.assign(d.ringGroups[1] ?? {}, {
        noAnswer: {
          type: 'time-condition',
          target: 'office',
          whenOpen: { type: 'ring-group', target: 'sales' },
          whenClosed: { type: 'queue', target: 'support' },
        },
      });
    },
    field: '/ringGroups/0/noAnswer/target',
    message: /loops: ring group 'sales' → 'support' → 'sales'/,
  },
  {
    rule: 'LOOP: a trunk call sent back to the same trunk (hairpin)',
    change: (d) =>
      d.routes.inbound.push({
        id: 'x',
        trunk: 'cloud',
        did: '555.',
        destination: { type: 'trunk', target: 'cloud' },
      }),
    field: '/routes/inbound/9/destination/target',
    message: /loops: sends calls back to trunk 'cloud'/,
  },
  {
    rule: 'LOOP: a hairpin hidden in a time-condition branch',
    change: (d) =>
      d.routes.inbound.push({
        id: 'x',
        trunk: 'itsp',
        did: '555.',
        destination: {
          type: 'time-condition',
          target: 'office',
          whenOpen: { type: 'extension', target: '1001' },
          whenClosed: { type: 'trunk', target: 'itsp' },
        },
      }),
    field: '/routes/inbound/9/destination/whenClosed/target',
    message: /loops: sends calls back to trunk 'itsp'/,
  },
  {
    rule: 'LOOP: two trunks passing the same DID to each other',
    change: (d) =>
      d.routes.inbound.push(
        { id: 'x', trunk: 'cloud', did: '5556000', destination: { type: 'trunk', target: 'itsp' } },
        { id: 'y', trunk: 'itsp', did: '5556000', destination: { type: 'trunk', target: 'cloud' } },
      ),
    field: '/routes/inbound/10/destination/target',
    message: /loops with \/routes\/inbound\/9: trunk 'itsp' → 'cloud' → 'itsp'/,
  },
];

describe('configuration naming missing ports or looping between routes is refused with the path', () => {
  test('the branch office configuration itself is valid', () => {
    const v = validateConfig(base());
    assert.ok(v.ok, v.ok ? '' : JSON.stringify(v.error.problems));
  });

  for (const c of cases) {
    test(`MUST refuse ${c.rule} (${c.field})`, () => {
      const doc = base();
      c.change(doc);
      const v = validateConfig(doc);
      assert.equal(v.ok, false, 'accepted');
      if (v.ok) return;
      const hit = v.error.problems.find((p) => p.field === c.field);
      assert.ok(hit, JSON.stringify(v.error.problems));
      assert.match(hit.message, c.message);
    });
  }

  test('a trunk forwarding to another trunk one way only is not a loop', () => {
    const doc = base();
    doc.routes.inbound.push({
      id: 'x',
      trunk: 'cloud',
      did: '5556000',
      destination: { type: 'trunk', target: 'itsp' },
    });
    assert.ok(validateConfig(doc).ok);
  });

  test('a configuration without a pstn section stays valid and gets empty defaults', () => {
    const v = validateConfig({ extensions: [{ number: '1001', password: 'x' }] });
    assert.ok(v.ok);
    assert.deepEqual(v.value.pstn, {
      cards: [],
      lines: [],
      spans: [],
      groups: [],
      callProgress: { answer: 'early', failureToneMs: 8000 },
    });
    assert.deepEqual(v.value.ringGroups, []);
    assert.deepEqual(v.value.timeConditions, []);
  });

  test('defaults of a line, span and route are filled in, and a validated document validates again', () => {
    const v = validateConfig(base());
    assert.ok(v.ok);
    const line = v.value.pstn.lines[0];
    assert.deepEqual(
      { ...line },
      {
        id: 'fxo1',
        card: 'sim0',
        port: 1,
        number: '5550001',
        direction: 'both',
        dialMode: 'dtmf',
        waitDialTone: true,
        dialPauseMs: 1000,
        callerIdMode: 'auto',
      },
    );
    assert.equal(v.value.routes.outbound[0]?.callerIdPolicy, 'extension');
    assert.equal(v.value.routes.inbound[0]?.did, '!');
    assert.ok(validateConfig(v.value).ok);
  });
});
