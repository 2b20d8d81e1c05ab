/** Which archives retention keeps; every other archive of the job is deleted. */
export interface RetentionRules {
  /** The N newest archives. */
  keepLast: number | null;
  /** The newest of each of the last N days, ISO weeks, months, years (local time, by `createdAt`). */
  keepDaily: number | null;
  keepWeekly: number | null;
  keepMonthly: number | null;
  keepYearly: number | null;
  /** Every archive created within this span (`7d`, `2w`, `1y2m`) of the newest one. */
  keepWithin: string | null;
}

/** The rules' keys, as the configuration and (camel-cased) `safebak prune`'s flags spell them. */
export const RETENTION_KEYS = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly', 'keepWithin'] as const satisfies readonly (keyof RetentionRules)[];

/** The rules out of a larger object (a job's configuration, parsed flags); what it lacks is null. */
export function retentionRulesOf(source: Partial<Record<keyof RetentionRules, unknown>>): RetentionRules {
  return Object.fromEntries(RETENTION_KEYS.map((k) => [k, source[k] ?? null])) as unknown as RetentionRules;
}

/** Whether any rule keeps something. All null or 0 means no retention, never "keep nothing". */
export function hasRetentionRule(rules: Partial<RetentionRules>): boolean {
  return RETENTION_KEYS.some((k) => {
    const v = rules[k];
    return typeof v === 'string' || (v ?? 0) > 0;
  });
}
