/**
 * Entry names as extraction sees them: split into components, leading `/`
 * stripped, `..` refused, `--strip-components` and PATH selection applied.
 * These string rules are the first line only; every path is then resolved by
 * the kernel (safe-dir.ts), which is what actually keeps writes inside the
 * target.
 */

export type SplitName = { components: string[]; leadingSlash: boolean } | { refused: string; leadingSlash: boolean };

/**
 * Splits an archive name into components. Every leading `/` goes (GNU tar
 * strips them too; `////etc` is as absolute as `/etc`), empty and `.`
 * components are dropped, and a `..` component anywhere refuses the name:
 * even `a/../b`, which stays inside, is a name no honest archiver writes.
 */
export function splitEntryName(name: string): SplitName {
  const leadingSlash = name.startsWith('/');
  const components = name.split('/').filter((c) => c !== '' && c !== '.');
  if (components.includes('..')) return { refused: `the name ${JSON.stringify(name)} has a '..' component`, leadingSlash };
  return { components, leadingSlash };
}

/** Drops the first `n` components; null when nothing is left (the entry is not extracted). */
export function stripComponents(components: string[], n: number): string[] | null {
  const rest = components.slice(n);
  return rest.length === 0 ? null : rest;
}

/** The PATH operands of a partial extraction: each matches itself and everything below it. */
export class PathSelection {
  #paths: { components: string[]; text: string; matched: boolean }[];

  /** Throws on an operand with a `..` component: it could never name an archive entry. */
  constructor(paths: string[]) {
    this.#paths = paths.map((text) => {
      const split = splitEntryName(text);
      if ('refused' in split) throw new Error(`extract path ${JSON.stringify(text)} has a '..' component`);
      return { components: split.components, text, matched: false };
    });
  }

  get all(): boolean {
    return this.#paths.length === 0;
  }

  /** Whether the archive name (already split, before --strip-components) is selected. */
  matches(components: string[]): boolean {
    if (this.#paths.length === 0) return true;
    let hit = false;
    for (const p of this.#paths) {
      if (p.components.length <= components.length && p.components.every((c, i) => c === components[i])) {
        p.matched = true;
        hit = true;
      }
    }
    return hit;
  }

  /** Operands that matched no entry, as given. */
  unmatched(): string[] {
    return this.#paths.filter((p) => !p.matched).map((p) => p.text);
  }
}
