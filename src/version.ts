import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** safebak's version, from package.json. */
export const VERSION: string = pkg.version;
/** How archives name the tool that wrote them. */
export const TOOL = `safebak/${VERSION}`;
