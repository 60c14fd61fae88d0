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

export const OutboundRouteSchema = Strict({
  id: Identifier,
  /**
   * Dial pattern: X=0-9, Z=1-9, N=2-9, [1-5] a set, '.' one or more of anything, '!' zero or
   * more; or a regular expression when it starts with '^' (syntax: routing/dial-pattern.ts).
   */
  pattern: Type.String({ minLength: 1, maxLength: 128 }),
  strip: Type.Integer({ minimum: 0, maximum: 32, default: 0 }),
  prefix: Type.String({ pattern: '^[0-9*#+]*$', maxLength: 32, default: '' }),
  trunks: Type.Array(Identifier, { minItems: 1, uniqueItems: true }),
  /** The least permission an extension needs to use this route. */
  permission: StringEnum(PERMISSIONS, { default: 'national' }),
});

export const DESTINATION_TYPES = ['extension', 'trunk', 'service'] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

export const InboundRouteSchema = Strict({
  id: Identifier,
  /** Only calls arriving on this trunk; absent = any trunk. */
  trunk: Type.Optional(Identifier),
  /** The dialled number (DID), exactly or as a dial pattern. */
  did: Type.String({ minLength: 1, maxLength: 128 }),
  destination: Strict({
    type: StringEnum(DESTINATION_TYPES),
    target: Type.String({ minLength: 1, maxLength: 64 }),
  }),
});

export const ServiceSchema = Strict({
  number: ServiceNumber,
  type: StringEnum(['echo', 'milliwatt'] as const),
});

export const ConfigSchema = Strict({
  system: SystemSchema,
  sip: SipSchema,
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
});

/** The validated configuration document, every default filled in. */
export type Config = Static<typeof ConfigSchema>;
export type SystemConfig = Static<typeof SystemSchema>;
export type SipConfig = Static<typeof SipSchema>;
export type MediaConfig = Static<typeof MediaSchema>;
export type ExtensionConfig = Static<typeof ExtensionSchema>;
export type TrunkConfig = Static<typeof TrunkSchema>;
export type TrunkMemberConfig = Static<typeof TrunkMemberSchema>;
export type OutboundRouteConfig = Static<typeof OutboundRouteSchema>;
export type InboundRouteConfig = Static<typeof InboundRouteSchema>;
export type ServiceConfig = Static<typeof ServiceSchema>;
