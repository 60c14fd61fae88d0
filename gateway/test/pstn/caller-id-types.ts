import type { Result } from '../../src/core/result.ts';
import type { CallerIdInfo } from '../../src/pstn/caller-id.ts';

export type CallerIdResultLike = Result<CallerIdInfo>;
