/**
 * A branch office: four FXO lines and one E1 span on the simulated card, two outbound port groups,
 * the cloud core as a trunk, a sales ring group and Shanghai business hours.
 */
import assert from 'node:assert/strict';
import type { Config } from '../../src/store/config-schema.ts';
import { validateConfig } from '../../src/store/config-validate.ts';

const ext = (number: string, permission: string, extra: Record<string, unknown> = {}) => ({
  number,
  password: `pw${number}`,
  permission,
  ...extra,
});

export const branchOfficeDoc = {
  system: { country: 'CN' },
  extensions: [
    ext('1001', 'international', { displayName: 'Reception' }),
    ext('1002', 'national'),
    ext('1003', 'local'),
    ext('1004', 'internal'),
    ext('1005', 'premium'),
    ext('1006', 'international'),
    ext('1009', 'national', { enabled: false }),
  ],
  trunks: [
    { id: 'cloud', members: [{ host: '10.0.0.1' }] },
    { id: 'itsp', members: [{ host: '10.0.0.2' }] },
  ],
  services: [{ number: '*43', type: 'echo' }],
  pstn: {
    cards: [{ id: 'sim0', driver: 'sim', fxo: 4, e1Spans: 1 }],
    lines: [
      { id: 'fxo1', card: 'sim0', port: 1, number: '5550001' },
      { id: 'fxo2', card: 'sim0', port: 2, number: '5550002', dialMode: 'pulse', waitDialTone: false },
      { id: 'fxo3', card: 'sim0', port: 3 },
      { id: 'fxo4', card: 'sim0', port: 4, direction: 'in' },
    ],
    spans: [{ id: 'e1-1', card: 'sim0', span: 1, channels: '1-2' }],
    groups: [
      { id: 'pstn-out', members: ['fxo1', 'fxo2', 'fxo4'], hunt: 'sequential' },
      { id: 'pstn-e1', members: ['e1-1'], hunt: 'round-robin' },
      { id: 'pstn-in', members: ['fxo2', 'fxo4'] },
    ],
  },
  ringGroups: [
    { id: 'sales', members: ['1001', '1002'], strategy: 'all', ringTimeoutS: 15 },
    {
      id: 'support',
      members: ['1003'],
      strategy: 'sequential',
      noAnswer: { type: 'queue', target: 'support' },
    },
  ],
  timeConditions: [
    {
      id: 'office',
      timeZone: 'Asia/Shanghai',
      hours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '18:00' }],
      holidays: ['2026-10-01'],
    },
    {
      id: 'night',
      timeZone: 'Asia/Shanghai',
      hours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '22:00', to: '07:00' }],
    },
  ],
  routes: {
    outbound: [
      {
        id: 'emergency',
        pattern: '^(110|112|119|120|122)$',
        targets: [{ type: 'group', id: 'pstn-out' }],
        permission: 'internal',
      },
      {
        id: 'cheap-night',
        pattern: '900.',
        strip: 1,
        targets: [{ type: 'trunk', id: 'itsp' }],
        permission: 'international',
        schedule: { timeCondition: 'night', active: 'open' },
      },
      {
        id: 'intl',
        pattern: '900.',
        strip: 1,
        targets: [
          { type: 'trunk', id: 'cloud' },
          { type: 'group', id: 'pstn-e1' },
        ],
        permission: 'international',
        callerIdPolicy: 'fixed:862155550000',
      },
      {
        id: 'premium',
        pattern: '9168.',
        strip: 1,
        trunks: ['cloud'],
        permission: 'premium',
        callerIdPolicy: 'anonymous',
      },
      {
        id: 'local',
        pattern: '9.',
        strip: 1,
        prefix: '',
        targets: [
          { type: 'group', id: 'pstn-out' },
          { type: 'group', id: 'pstn-e1' },
          { type: 'trunk', id: 'cloud' },
        ],
        permission: 'local',
      },
      {
        id: 'forward',
        pattern: '8.',
        strip: 1,
        prefix: '0086',
        trunks: ['cloud'],
        permission: 'national',
        callerIdPolicy: 'passthrough',
      },
    ],
    inbound: [
      { id: 'r-line', line: 'fxo1', destination: { type: 'extension', target: '1001' } },
      { id: 'r-did', did: '5550001', destination: { type: 'extension', target: '1002' } },
      {
        id: 'r-full',
        line: 'fxo1',
        did: '5550001',
        callerId: '138.',
        destination: { type: 'extension', target: '1003' },
      },
      { id: 'r-group', group: 'pstn-in', destination: { type: 'ring-group', target: 'sales' } },
      { id: 'r-caller', callerId: '139.', destination: { type: 'queue', target: 'vip' } },
      { id: 'r-any', destination: { type: 'ivr', target: 'main-menu' } },
      {
        id: 'r-hours',
        did: '5559000',
        destination: {
          type: 'time-condition',
          target: 'office',
          whenOpen: { type: 'ring-group', target: 'sales' },
          whenClosed: { type: 'ivr', target: 'after-hours' },
        },
      },
      { id: 'r-cloud', did: '5558000', destination: { type: 'trunk', target: 'cloud' } },
      { id: 'r-off', did: '5557000', destination: { type: 'extension', target: '1009' } },
    ],
  },
};

export function branchOffice(): Config {
  const v = validateConfig(branchOfficeDoc);
  assert.ok(v.ok, v.ok ? '' : JSON.stringify(v.error.problems));
  return v.value;
}
