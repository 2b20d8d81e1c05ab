import { loadNative } from '../../src/native/native.js';

/**
 * Whether the native tests can run. When they cannot, the reason is printed
 * once per file and the suites are reported as skipped, never as passed.
 */
export const nativeProbe = loadNative();
export const nativeMissing = nativeProbe.addon === null;
if (nativeMissing) console.warn(`native tests skipped: ${nativeProbe.reason}`);
