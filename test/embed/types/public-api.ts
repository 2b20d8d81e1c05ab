// Type tests of the public surface, compiled by `tsc --noEmit` (test/embed/types.test.ts).
// "safebak" resolves through package.json's self-reference to dist/index.d.ts: the
// types a host installing the package gets.
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { expectTypeOf } from 'vitest';
import {
  createArchive,
  defaultConfig,
  ExitStatus,
  extractArchive,
  listArchive,
  pruneArchives,
  SafebakError,
  validateConfig,
  verifyArchive,
} from 'safebak';
import type {
  CreateOptions,
  CreateProgress,
  CreateResult,
  ExtractResult,
  FileIssue,
  ListResult,
  PruneResult,
  SafebakErrorCode,
  Strategy,
  VerifyResult,
} from 'safebak';

// Targets and sources: a path or a Node stream.
expectTypeOf<CreateOptions['output']>().toEqualTypeOf<string | Writable>();
expectTypeOf(verifyArchive).parameter(0).toEqualTypeOf<string | Readable>();
expectTypeOf(listArchive).parameter(0).toEqualTypeOf<string | Readable>();
expectTypeOf(extractArchive).parameter(0).toEqualTypeOf<string | Readable>();

// Typed results.
expectTypeOf(createArchive).returns.resolves.toEqualTypeOf<CreateResult>();
expectTypeOf(verifyArchive).returns.resolves.toEqualTypeOf<VerifyResult>();
expectTypeOf(listArchive).returns.resolves.toEqualTypeOf<ListResult>();
expectTypeOf(extractArchive).returns.resolves.toEqualTypeOf<ExtractResult>();
expectTypeOf(pruneArchives).returns.resolves.toEqualTypeOf<PruneResult>();
expectTypeOf<CreateResult['status']>().toEqualTypeOf<ExitStatus>();
expectTypeOf<CreateResult['flagged']>().toEqualTypeOf<FileIssue[]>();
expectTypeOf<CreateResult['strategies']>().toEqualTypeOf<Record<Strategy, number>>();
expectTypeOf<FileIssue['status']>().toEqualTypeOf<'changed' | 'unstable' | 'skipped' | 'note'>();
expectTypeOf<ExitStatus>().toEqualTypeOf<0 | 1 | 2 | 3 | 130>();

// Typed progress: bytes, files, the current path and its strategy.
expectTypeOf<CreateProgress>().toMatchTypeOf<{ phase: 'archive' | 'verify'; files: number; bytes: number; path?: string | undefined; strategy?: Strategy | undefined }>();
expectTypeOf<NonNullable<CreateOptions['onProgress']>>().parameter(0).toEqualTypeOf<CreateProgress>();

// AbortSignal and a host logger on every operation.
expectTypeOf<CreateOptions['signal']>().toEqualTypeOf<AbortSignal | undefined>();
expectTypeOf<CreateOptions['logger']>().toEqualTypeOf<Logger | undefined>();
expectTypeOf<NonNullable<Parameters<typeof verifyArchive>[1]>['signal']>().toEqualTypeOf<AbortSignal | undefined>();
expectTypeOf<NonNullable<Parameters<typeof listArchive>[1]>['signal']>().toEqualTypeOf<AbortSignal | undefined>();
expectTypeOf<NonNullable<Parameters<typeof extractArchive>[1]>['signal']>().toEqualTypeOf<AbortSignal | undefined>();

// Errors: one class with a stable, closed set of codes.
expectTypeOf<SafebakError['code']>().toEqualTypeOf<SafebakErrorCode>();
expectTypeOf<SafebakError['exitStatus']>().toEqualTypeOf<ExitStatus>();
expectTypeOf<SafebakError['path']>().toEqualTypeOf<string | undefined>();
expectTypeOf<'SAFEBAK_LOCKED'>().toMatchTypeOf<SafebakErrorCode>();
expectTypeOf<'SAFEBAK_ABORTED'>().toMatchTypeOf<SafebakErrorCode>();
// @ts-expect-error — codes are a closed union, not any string
expectTypeOf<'SAFEBAK_SOMETHING_ELSE'>().toMatchTypeOf<SafebakErrorCode>();

// Configuration.
expectTypeOf(defaultConfig.level).toEqualTypeOf<number>();
expectTypeOf(validateConfig).parameter(0).toEqualTypeOf<unknown>();

// Misuse is a compile error.
// @ts-expect-error — sources is required
void createArchive({ output: 'x.tar' });
// @ts-expect-error — a number is neither a path nor a stream
void createArchive({ sources: ['a'], output: 42 });
// @ts-expect-error — no such strategy
void createArchive({ sources: ['a'], output: 'x.tar', strategy: 'fast' });
