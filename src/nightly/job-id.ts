import { createHash } from 'node:crypto';

/**
 * The job an archive belongs to, as its manifest header records it: the
 * configuration's `job` when set, else `auto-` and a digest of the output
 * template and the sources, so two jobs sharing a directory (or archives made
 * by hand under a matching name) are never pruned as each other's. Changing
 * the template or the sources of a job without a `job` name starts a new job:
 * the old archives are then kept, never deleted. Null when the configuration
 * names neither (no job: nothing may be pruned).
 */
export function jobIdOf(job: { job: string | null; output: string | null; sources: readonly string[] }): string | null {
  if (job.job !== null) return job.job;
  if (job.output === null) return null;
  const digest = createHash('sha256').update(JSON.stringify([job.output, [...job.sources]])).digest('hex');
  return `auto-${digest.slice(0, 16)}`;
}
