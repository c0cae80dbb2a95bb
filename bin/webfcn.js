#!/usr/bin/env node
// The `webfcn` command: runs the bundled CLI (npm run build makes dist/cli.js).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('webfcn: dist/cli.js is missing; run `npm run build` first');
  process.exit(1);
}
await import(cli);
