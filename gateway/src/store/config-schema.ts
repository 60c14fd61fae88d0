/**
 * The one schema of the configuration document (`<dataDir>/config.json`). The TypeBox schema is
 * the source of the TypeScript types (Static<>) and of the JSON Schema ajv validates with, so the
 * two cannot drift. Unknown keys are refused everywhere (`additionalProperties: false`) so that a
 * typo such as `"prot": 5080` is reported instead of silently ignored. Fields that have a sensible
 * value are optional and filled in by ajv (`useDefaults`), so a stored document stays short.
 */
import { Type, type Static, type TUnsafe } from '@sinclair/typebox';

/** A string restricted to a fixed set; emitted as `enum` (one readable error) rather than anyOf. */
function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

function Strict<T extends Parameters<typeof Type.Object>[0]>(
  properties: T,
  options: { default?: unknown; description?: string } = {},
) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

export const PERMISSIONS = ['internal', 'local', 'national', 'international', 'premium'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * Statuses after which the next trunk member is tried. Only answers that describe the member
 * (it timed out, is overloaded or broken) qualify. A callee's own final answer — 486 Busy Here,
 * 600 Busy Everywhere, 603 Decline, 404 Not Found — is the user's answer: trying another member
 * would ring the callee twice or override a decline, so those are refused by the schema.
 */
export const FAILOVER_STATUSES = [408, 480, 500, 501, 502, 503, 504] as const;

export const DIGEST_ALGORITHMS = ['SHA-256', 'MD5'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

const Digits = Type.String({ pattern: '^[0-9]+$', minLength: 1, maxLength: 32 });
const Identifier = Type.String({ pattern: '^[a-z0-9-]+$', minLength: 1, maxLength: 64 });
const ServiceNumber = Type.String({ pattern: '^[*#0-9]+$', minLength: 1, maxLength: 32 });
const NonEmpty = Type.String({ minLength: 1, maxLength: 255 });

export const SystemSchema = Strict(
  {
    name: Type.String({ minLength: 1, maxLength: 64, default: 'edgeline' }),
    /** The digest realm of every challenge this gateway issues. */
    domain: Type.String({ minLength: 1, maxLength: 253, default: 'edgeline.local' }),
    /** ISO 3166-1 alpha-2 country: selects the tone plan (dial, ringback, busy, congestion). */
    country: Type.String({ pattern: '^[A-Z]{2}$', default: 'CN' }),
    /** Overrides the tone plan the country implies (a site abroad keeping its home tones). */
    tonePlan: Type.Optional(StringEnum(['cn', 'etsi', 'nanp'] as const)),
  },
  { default: {} },
);

export const SipSchema = Strict(
  {
    userAgent: Type.String({ minLength: 1, maxLength: 128, default: 'edgeline' }),
    registerMinExpiresS: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
    registerMaxExpiresS: Type.Integer({ minimum: 1, maximum: 86400, default: 3600 }),
    registerDefaultExpiresS: Type.Integer({ minimum: 1, maximum: 86400, default: 3600 }),
    nonceTtlS: Type.Integer({ minimum: 10, maximum: 3600, default: 300 }),
    digestAlgorithms: Type.Array(StringEnum(DIGEST_ALGORITHMS), {
      minItems: 1,
      uniqueItems: true,
      default: ['SHA-256', 'MD5'],
    }),
    sessionExpiresS: Type.Integer({ minimum: 90, maximum: 86400, default: 1800 }),
    /** RFC 4028 §4: "the Min-SE ... MUST NOT be less than 90 seconds". */
    minSeS: Type.Integer({ minimum: 90, maximum: 86400, default: 90 }),
    maxContactsPerExtension: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
    authenticateCalls: Type.Boolean({ default: true }),
  },
  { default: {} },
);

/**
 * Source protection at the SIP edge (`sip/security/source-guard.ts`): a source failing digest
 * authentication `authFailures` times within `authWindowS`, leaving `unansweredChallenges`
 * challenges unanswered in that time (a scanner), or sending more than `floodPerS` requests in a
 * second, is banned for `banS`. `allow`: addresses and CIDR ranges never banned
 * (the management network, the box itself); trunk members' addresses are allowed as well.
 */
export const SecuritySchema = Strict(
  {
    authFailures: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
    authWindowS: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
    banS: Type.Integer({ minimum: 1, maximum: 604800, default: 300 }),
    /** Challenges within `authWindowS` a source never answered (a scanner); 0: no limit. */
    unansweredChallenges: Type.Integer({ minimum: 0, maximum: 100000, default: 20 }),
    /** 0 turns the flood limit off. */
    floodPerS: Type.Integer({ minimum: 0, maximum: 1000000, default: 1000 }),
    allow: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
      maxItems: 256,
      default: ['127.0.0.1', '::1'],
    }),
  },
  { default: {} },
);

/** Codec names the media engine knows: G.711 (transcoded between laws) and RFC 4733 events. */
export const MEDIA_CODECS = ['PCMU', 'PCMA', 'telephone-event'] as const;
const CodecList = Type.Array(StringEnum(MEDIA_CODECS), { minItems: 1, uniqueItems: true });

export const MediaSchema = Strict(
  {
    /** Anchor RTP at the gateway (rewrite SDP to our ports); off passes SDP end to end. */
    anchor: Type.Boolean({ default: true }),
    /** A two-way stream silent this long ends its call (BYE both, CDR cause 'dead media'). */
    deadMediaTimeoutS: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
    codecs: Type.Array(StringEnum(MEDIA_CODECS), {
      minItems: 1,
      uniqueItems: true,
      default: ['PCMU', 'PCMA', 'telephone-event'],
    }),
    /** Record bridged calls: one stereo WAV per interaction under `<dataDir>/recordings/`. */
    recording: StringEnum(['off', 'all'] as const, { default: 'off' }),
    /**
     * Played to a party put on hold, looping until resume. `file`: a WAV (µ-law, A-law, 8 or
     * 16 kHz 16-bit PCM; relative to the data directory); without it, or when it does not load,
     * the built-in music.
     */
    musicOnHold: Strict(
      {
        enabled: Type.Boolean({ default: true }),
        file: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
      },
      { default: {} },
    ),
  },
  { default: {} },
);

/** Per trunk and per extension: codec list, SRTP policy, direct media (all optional). */
const PeerMediaFields = {
  codecs: Type.Optional(CodecList),
  srtp: Type.Optional(StringEnum(['off', 'optional', 'required'] as const)),
  directMedia: Type.Optional(Type.Boolean()),
};

export const ExtensionSchema = Strict({
  number: Digits,
  displayName: Type.Optional(Type.String({ maxLength: 128 })),
  password: Type.String({ minLength: 1, maxLength: 128 }),
  permission: StringEnum(PERMISSIONS, { default: 'international' }),
  enabled: Type.Boolean({ default: true }),
  /** May dial the `monitor` services (listen to, whisper to, barge into other extensions' calls). */
  monitor: Type.Optional(Type.Boolean()),
  ...PeerMediaFields,
});

export const TrunkMemberSchema = Strict({
  host: NonEmpty,
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 5060 }),
  transport: StringEnum(['udp', 'tcp', 'tls'] as const, { default: 'udp' }),
  weight: Type.Integer({ minimum: 0, maximum: 1000, default: 1 }),
});

export const TrunkSchema = Strict({
  id: Identifier,
  name: Type.Optional(Type.String({ maxLength: 128 })),
  members: Type.Array(TrunkMemberSchema, { minItems: 1 }),
  credentials: Type.Optional(
    Strict({
      username: NonEmpty,
      password: Type.String({ minLength: 1, maxLength: 128 }),
    }),
  ),
  register: Type.Optional(
    Strict({
      enabled: Type.Boolean({ default: false }),
      expiresS: Type.Integer({ minimum: 60, maximum: 86400, default: 3600 }),
      retryMinS: Type.Integer({ minimum: 1, maximum: 3600, default: 5 }),
      retryMaxS: Type.Integer({ minimum: 1, maximum: 86400, default: 300 }),
    }),
  ),
  probe: Strict(
    {
      enabled: Type.Boolean({ default: true }),
      intervalMs: Type.Integer({ minimum: 500, maximum: 3_600_000, default: 5000 }),
      timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 2000 }),
      downAfter: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
      upAfter: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
    },
    { default: {} },
  ),
  failover: Strict(
    {
      inviteTimeoutMs: Type.Integer({ minimum: 500, maximum: 120_000, default: 4000 }),
      onStatus: Type.Array(Type.Integer({ enum: [...FAILOVER_STATUSES] }), {
        uniqueItems: true,
        default: [408, 480, 500, 502, 503, 504],
      }),
    },
    { default: {} },
  ),
  identity: Strict(
    {
      /** The trunk is inside the trust domain (RFC 3325 §2.3): its P-Asserted-Identity is believed. */
      trusted: Type.Boolean({ default: false }),
      acceptPai: Type.Boolean({ default: false }),
      sendPai: Type.Boolean({ default: true }),
    },
    { default: {} },
  ),
  inbound: Strict({ acceptFromMembersOnly: Type.Boolean({ default: true }) }, { default: {} }),
  ...PeerMediaFields,
});

/** One entry of an outbound route's ordered target list: a SIP trunk or a group of PSTN ports. */
export const RouteTargetSchema = Strict({
  type: StringEnum(['trunk', 'group'] as const),
  id: Identifier,
});

/**
 * The number presented to the far end on an outbound call: `extension` the caller's own number,
 * `fixed:<number>` one number for everybody (a company's main number), `passthrough` the original
 * caller of a forwarded call, `anonymous` presentation restricted.
 */
export type CallerIdPolicy = 'extension' | 'passthrough' | 'anonymous' | `fixed:${string}`;
const CallerIdPolicySchema = Type.Unsafe<CallerIdPolicy>({
  type: 'string',
  pattern: '^(extension|passthrough|anonymous|fixed:\\+?[0-9]{1,32})$',
  default: 'extension',
});

export const OutboundRouteSchema = Strict({
  id: Identifier,
  /**
   * Dial pattern: X=0-9, Z=1-9, N=2-9, [1-5] a set, '.' one or more of anything, '!' zero or
   * more; or a regular expression when it starts with '^' (syntax: routing/dial-pattern.ts).
   */
  pattern: Type.String({ minLength: 1, maxLength: 128 }),
  strip: Type.Integer({ minimum: 0, maximum: 32, default: 0 }),
  prefix: Type.String({ pattern: '^[0-9*#+]*$', maxLength: 32, default: '' }),
  /**
   * The most digits the number sent on (after strip and prefix, without a leading +) may have;
   * longer dial strings are refused with 404 before any line or trunk is tried. E.164's 15 when
   * not given; a route to a private network with longer numbers raises it.
   */
  maxDigits: Type.Optional(Type.Integer({ minimum: 1, maximum: 32 })),
  /** The original form: SIP trunks only, tried in order. Give either `trunks` or `targets`. */
  trunks: Type.Array(Identifier, { uniqueItems: true, default: [] }),
  /** Trunks and PSTN port groups, tried in order; a group is left when all its channels are busy. */
  targets: Type.Array(RouteTargetSchema, { default: [] }),
  /** The least permission an extension needs to use this route. */
  permission: StringEnum(PERMISSIONS, { default: 'national' }),
  callerIdPolicy: CallerIdPolicySchema,
  /** Use the route only while the named time condition is in this state (cheap-rate routes). */
  schedule: Type.Optional(
    Strict({ timeCondition: Identifier, active: StringEnum(['open', 'closed'] as const) }),
  ),
});

export const DESTINATION_TYPES = [
  'extension',
  'trunk',
  'service',
  'ring-group',
  'ivr',
  'queue',
  'time-condition',
  /** A PSTN port group: the call goes out on its ports (a PBX's E1 span out to the PSTN lines). */
  'group',
] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/**
 * Where a call goes: `{ type, target }`. A `time-condition` destination names its condition in
 * `target` and carries the two branches inline, which may themselves be time conditions
 * (a holiday calendar in front of business hours). One schema object per use site: a recursive
 * schema carries an `$id`, and an `$id` may appear only once in a document schema.
 */
function DestinationSchema(id: string) {
  return Type.Recursive(
    (This) =>
      Strict({
        type: StringEnum(DESTINATION_TYPES),
        target: Type.String({ minLength: 1, maxLength: 64 }),
        whenOpen: Type.Optional(This),
        whenClosed: Type.Optional(This),
      }),
    { $id: id },
  );
}

export const InboundRouteSchema = Strict({
  id: Identifier,
  /** Only calls arriving on this trunk; absent = any source. At most one of trunk/line/group. */
  trunk: Type.Optional(Identifier),
  /** Only calls arriving on this PSTN line or E1 span. */
  line: Type.Optional(Identifier),
  /** Only calls arriving on a line or span of this port group. */
  group: Type.Optional(Identifier),
  /**
   * The dialled number (DID), exactly or as a dial pattern; `!` (the default) matches any. A call
   * on an analog line has no DID of its own: the line's `number` stands for it.
   */
  did: Type.String({ minLength: 1, maxLength: 128, default: '!' }),
  /** Only callers whose number matches this dial pattern (`!` matches a withheld number too). */
  callerId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  destination: DestinationSchema('InboundDestination'),
});

export const RingGroupSchema = Strict({
  id: Identifier,
  members: Type.Array(Digits, { minItems: 1, uniqueItems: true }),
  /**
   * `ringall`: every member's registered contacts ring at once, the first to answer wins;
   * `hunt`: members one after another in order, each for `ringSeconds`. `all` and `sequential`
   * are the earlier names of the two.
   */
  strategy: StringEnum(['ringall', 'hunt', 'all', 'sequential'] as const, { default: 'ringall' }),
  /**
   * How long the group rings before `noAnswer`. For `sequential` without `ringSeconds` (the
   * earlier form) it is how long each member rings.
   */
  ringTimeoutS: Type.Integer({ minimum: 1, maximum: 600, default: 20 }),
  /** `hunt`: how long each member rings before the next one. */
  ringSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
  /** Where an unanswered call goes next; absent = the caller hears 480. */
  noAnswer: Type.Optional(DestinationSchema('RingGroupNoAnswer')),
});

const Clock24 = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' });
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const TimeConditionSchema = Strict({
  id: Identifier,
  /** IANA time zone the hours and holidays are read in, e.g. `Asia/Shanghai`. */
  timeZone: Type.String({ minLength: 1, maxLength: 64, default: 'UTC' }),
  /**
   * Open periods. `to` before `from` runs past midnight into the next day (22:00-06:00 on `fri`
   * is open until Saturday 06:00); `24:00` is the end of the day.
   */
  hours: Type.Array(
    Strict({
      days: Type.Array(StringEnum(WEEKDAYS), { minItems: 1, uniqueItems: true }),
      from: Clock24,
      to: Clock24,
    }),
    { default: [] },
  ),
  /** Whole local days closed whatever the hours say. */
  holidays: Type.Array(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }), {
    uniqueItems: true,
    default: [],
  }),
});

export const CardSchema = Strict({
  id: Identifier,
  driver: StringEnum(['sim', 'dahdi', 'serial'] as const, { default: 'sim' }),
  fxo: Type.Integer({ minimum: 0, maximum: 256, default: 4 }),
  e1Spans: Type.Integer({ minimum: 0, maximum: 64, default: 1 }),
});

export const LineSchema = Strict({
  id: Identifier,
  card: Identifier,
  /** FXO port on the card, from 1. */
  port: Type.Integer({ minimum: 1, maximum: 256 }),
  /** The line's PSTN number: the DID of calls arriving on it and its caller ID outbound. */
  number: Type.Optional(Type.String({ pattern: '^\\+?[0-9]{1,32}$' })),
  direction: StringEnum(['both', 'in', 'out'] as const, { default: 'both' }),
  dialMode: StringEnum(['dtmf', 'pulse'] as const, { default: 'dtmf' }),
  /** Wait for dial tone after seizing; off dials after `dialPauseMs` instead. */
  waitDialTone: Type.Boolean({ default: true }),
  dialPauseMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 1000 }),
  callerIdMode: StringEnum(['auto', 'bell202', 'v23', 'dtmf', 'none'] as const, { default: 'auto' }),
  /** A busy/disconnect cadence learned on this line, matched besides the country plan's. */
  learnedBusyTone: Type.Optional(
    Strict({
      frequenciesHz: Type.Array(Type.Number({ minimum: 100, maximum: 4000 }), { minItems: 1, maxItems: 2 }),
      onMs: Type.Integer({ minimum: 50, maximum: 5000 }),
      offMs: Type.Integer({ minimum: 50, maximum: 5000 }),
    }),
  ),
});

export const SpanSchema = Strict({
  id: Identifier,
  card: Identifier,
  /** E1 span on the card, from 1. */
  span: Type.Integer({ minimum: 1, maximum: 64 }),
  /** Bearer timeslots used, as ranges; timeslot 16 carries signalling (ITU-T G.704 §5.1.3). */
  channels: Type.String({
    pattern: '^[0-9]{1,2}(-[0-9]{1,2})?(,[0-9]{1,2}(-[0-9]{1,2})?)*$',
    default: '1-15,17-31',
  }),
  direction: StringEnum(['both', 'in', 'out'] as const, { default: 'both' }),
  /** The span's number block base (DIDs arrive with the call). */
  number: Type.Optional(Type.String({ pattern: '^\\+?[0-9]{1,32}$' })),
});

export const HUNT_STRATEGIES = ['sequential', 'round-robin', 'least-used'] as const;
export type HuntStrategy = (typeof HUNT_STRATEGIES)[number];

export const PortGroupSchema = Strict({
  id: Identifier,
  /** Line and span ids, in hunt order. */
  members: Type.Array(Identifier, { minItems: 1, uniqueItems: true }),
  hunt: StringEnum(HUNT_STRATEGIES, { default: 'sequential' }),
});

export const PstnSchema = Strict(
  {
    cards: Type.Array(CardSchema, { default: [] }),
    lines: Type.Array(LineSchema, { default: [] }),
    spans: Type.Array(SpanSchema, { default: [] }),
    groups: Type.Array(PortGroupSchema, { default: [] }),
    /**
     * Tones to a PSTN caller while call control works on an incoming call. `early`: the line is
     * answered when the SIP side rings (ringback by the tone plan, or the callee's early media) or
     * fails (busy / congestion for `failureToneMs`, then released); `connect`: the line is answered
     * only by the callee's answer and a failed call rings out unanswered.
     */
    callProgress: Strict(
      {
        answer: StringEnum(['early', 'connect'] as const, { default: 'early' }),
        failureToneMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 8000 }),
      },
      { default: {} },
    ),
  },
  { default: {} },
);

export const ServiceSchema = Strict({
  number: ServiceNumber,
  type: StringEnum(['echo', 'milliwatt', 'conference', 'monitor', 'announcement', 'connect'] as const),
  /**
   * `announcement`: the WAV played (relative to the data directory), then the gateway hangs up.
   * `connect`: the WAV the caller hears before the extension is rung ("please hold while we
   * connect you"); without it the caller hears ringback only.
   */
  file: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  /** `announcement`: a DTMF digit stops the prompt (then the gateway hangs up). */
  bargeIn: Type.Optional(Type.Boolean()),
  /** `announcement`: times the prompt plays. */
  loops: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  /** `conference`: how many parties the room holds (the mixer's limit is 8); the next gets 486. */
  maxParties: Type.Optional(Type.Integer({ minimum: 2, maximum: 8 })),
  /**
   * `monitor`: dialled as this number followed by the extension to monitor (`*451002`), by an
   * extension with `monitor: true`; the supervisor starts in this mode (digits 4/5/6 switch it).
   */
  mode: Type.Optional(StringEnum(['listen', 'whisper', 'barge'] as const)),
  /**
   * `connect`: the gateway answers, plays `file`, then rings this extension and bridges the caller
   * to it. Without it the service is dialled as its number followed by the extension (`*481002`).
   */
  extension: Type.Optional(Type.String({ pattern: '^[0-9]{1,32}$' })),
});

export const ConfigSchema = Strict({
  system: SystemSchema,
  sip: SipSchema,
  security: SecuritySchema,
  media: MediaSchema,
  extensions: Type.Array(ExtensionSchema, { default: [] }),
  trunks: Type.Array(TrunkSchema, { default: [] }),
  routes: Strict(
    {
      outbound: Type.Array(OutboundRouteSchema, { default: [] }),
      inbound: Type.Array(InboundRouteSchema, { default: [] }),
    },
    { default: {} },
  ),
  services: Type.Array(ServiceSchema, { default: [] }),
  pstn: PstnSchema,
  ringGroups: Type.Array(RingGroupSchema, { default: [] }),
  timeConditions: Type.Array(TimeConditionSchema, { default: [] }),
});

/** The validated configuration document, every default filled in. */
export type Config = Static<typeof ConfigSchema>;
export type SystemConfig = Static<typeof SystemSchema>;
export type SipConfig = Static<typeof SipSchema>;
export type SecurityConfig = Static<typeof SecuritySchema>;
export type MediaConfig = Static<typeof MediaSchema>;
export type ExtensionConfig = Static<typeof ExtensionSchema>;
export type TrunkConfig = Static<typeof TrunkSchema>;
export type TrunkMemberConfig = Static<typeof TrunkMemberSchema>;
export type OutboundRouteConfig = Static<typeof OutboundRouteSchema>;
export type InboundRouteConfig = Static<typeof InboundRouteSchema>;
export type ServiceConfig = Static<typeof ServiceSchema>;
export type RouteTargetConfig = Static<typeof RouteTargetSchema>;
export type DestinationConfig = InboundRouteConfig['destination'];
export type RingGroupConfig = Static<typeof RingGroupSchema>;
export type TimeConditionConfig = Static<typeof TimeConditionSchema>;
export type PstnConfig = Static<typeof PstnSchema>;
export type CardConfig = Static<typeof CardSchema>;
export type LineConfig = Static<typeof LineSchema>;
export type SpanConfig = Static<typeof SpanSchema>;
export type PortGroupConfig = Static<typeof PortGroupSchema>;
