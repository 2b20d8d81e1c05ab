/**
 * safebak's library API (DESIGN §9). The CLI is a thin layer over these.
 * @packageDocumentation
 */
export { createArchive } from './create/create-archive.js';
export type { CreateOptions, CreateProgress, CreateResult, FileIssue } from './create/create-archive.js';
export { verifyArchive } from './verify/verify-archive.js';
export type { FlaggedFile, SourceComparison, VerifyOptions, VerifyProblem, VerifyProgress, VerifyResult } from './verify/verify-archive.js';
export type { SourceVerdict } from './verify/source-check.js';
export { listArchive } from './list/list-archive.js';
export type { ListedEntry, ListOptions, ListResult } from './list/list-archive.js';
export { extractArchive } from './extract/extract-archive.js';
export type { EntryOutcome, ExtractOptions, ExtractProgress, ExtractResult, Outcome, ResolverMode } from './extract/extract-archive.js';
export { pruneArchives } from './nightly/prune.js';
export type { PruneDecision, PruneOptions, PruneResult, RetentionRules } from './nightly/prune.js';
export { expandTemplate } from './nightly/output-name.js';
export { ExitStatus, SafebakError } from './errors.js';
export type { SafebakErrorCode } from './errors.js';
export { defaultConfig, defaultJobConfig, loadConfigFile, validateConfig } from './config/config.js';
export type { Config, ConfigFile, JobConfig } from './config/config.js';
export type { EntryRecord, FooterRecord, HeaderRecord, RecordStatus, SkippedRecord, Strategy } from './archive/manifest.js';
export type { EntryType } from './archive/entry-type.js';
export { VERSION } from './version.js';
