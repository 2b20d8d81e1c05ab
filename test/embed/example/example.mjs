// What a host backup system does with safebak, as plain JavaScript: create an
// archive into its own stream, verify it from a stream, extract it, and abort
// cleanly. Run by test/embed/pack-install.test.ts inside a project that
// installed safebak from its `npm pack` tarball.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import * as safebak from 'safebak';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'safebak-example-'));
const src = path.join(work, 'src');
fs.mkdirSync(path.join(src, 'docs'), { recursive: true });
fs.writeFileSync(path.join(src, 'docs', 'hello.txt'), 'hello from the host\n');
fs.writeFileSync(path.join(src, 'data.bin'), Buffer.alloc(2 * 1024 * 1024, 42));

// 1. A file archive: written under a temporary name, read back, renamed.
const file = path.join(work, 'backup.tar.zst');
const created = await safebak.createArchive({ sources: ['docs', 'data.bin'], cwd: src, output: file });

// 2. The same into the host's own stream (say, an upload).
const upload = new PassThrough();
const chunks = [];
upload.on('data', (c) => chunks.push(c));
const streamed = await safebak.createArchive({ sources: ['docs'], cwd: src, output: upload });
const verified = await safebak.verifyArchive(Readable.from([Buffer.concat(chunks)]));

// 3. Extract, where this version has it.
let extracted = null;
if (typeof safebak.extractArchive === 'function') {
  const target = path.join(work, 'restore');
  fs.mkdirSync(target);
  const r = await safebak.extractArchive(file, { cwd: target });
  extracted = r.status === 0 && fs.readFileSync(path.join(target, 'docs', 'hello.txt'), 'utf8') === 'hello from the host\n';
}

// 4. Errors carry stable codes.
let code = null;
try {
  await safebak.createArchive({ sources: [], output: file });
} catch (err) {
  code = err instanceof safebak.SafebakError ? err.code : String(err);
}

console.log(JSON.stringify({
  version: safebak.VERSION,
  created: created.status,
  fileVerified: created.verification.performed,
  streamed: streamed.status,
  verified: verified.status,
  extracted,
  code,
}));
fs.rmSync(work, { recursive: true, force: true });
