import picomatch from 'picomatch';

/** Decides whether an archive name is excluded by any `--exclude` glob. */
export type ExcludeMatcher = (name: string) => boolean;

/**
 * Builds the matcher for `--exclude GLOB` patterns, GNU tar style: a pattern
 * without a slash matches any path component's name (so `*.log` excludes
 * logs at any depth and `node_modules` prunes the whole directory); a pattern
 * with a slash matches the whole archive name.
 */
export function createExcludeMatcher(patterns: readonly string[]): ExcludeMatcher {
  if (patterns.length === 0) return () => false;
  const byBase = patterns.filter((p) => !p.includes('/'));
  const byPath = patterns.filter((p) => p.includes('/')).map((p) => p.replace(/^\/+|\/+$/g, ''));
  const options = { dot: true };
  const baseMatch = byBase.length ? picomatch(byBase, options) : () => false;
  const pathMatch = byPath.length ? picomatch(byPath, options) : () => false;
  return (name) => {
    const clean = name.replace(/\/+$/, '');
    const slash = clean.lastIndexOf('/');
    return baseMatch(slash === -1 ? clean : clean.slice(slash + 1)) || pathMatch(clean);
  };
}
