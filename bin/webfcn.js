#!/usr/bin/env node
// The `webfcn` command: runs the bundled CLI (npm run build makes dist/cli.js).
//
// By default the CLI runs as a child process whose stderr passes through a filter that drops the
// warnings the native WebGPU library prints on its own (see native-noise.js); stdin and stdout are
// the child's own, and its exit code or signal becomes this process's. With --verbose (anywhere on
// the line) or WEBFCN_LOG=debug the CLI runs in this process and nothing is filtered.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { NativeNoiseFilter } from './native-noise.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('webfcn: dist/cli.js is missing; run `npm run build` first');
  process.exit(1);
}

const args = process.argv.slice(2);
const verbose = args.includes('--verbose') || (process.env.WEBFCN_LOG ?? '').toLowerCase() === 'debug';
if (verbose) {
  await import(cli);
} else {
  const child = spawn(process.execPath, [...process.execArgv, cli, ...args], {
    stdio: ['inherit', 'inherit', 'pipe'],
    // The progress bar redraws one line when stderr is a terminal; tell the child it is one.
    env: { ...process.env, WEBFCN_STDERR_TTY: process.stderr.isTTY ? '1' : '0' },
  });
  const filter = new NativeNoiseFilter((text) => process.stderr.write(text));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => filter.push(chunk));
  // Ctrl-C reaches the child from the terminal too; a signal sent to this process alone is passed on.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const forward = (signal) => child.kill(signal);
  for (const s of signals) process.on(s, forward);
  child.on('error', (e) => {
    console.error(`webfcn: cannot start ${cli}: ${e.message}`);
    process.exit(1);
  });
  child.on('close', (code, signal) => {
    filter.flush();
    for (const s of signals) process.off(s, forward);
    if (!signal) {
      process.exitCode = code ?? 1;
      return;
    }
    // Die of the same signal, as a shell expects; 128 + its number if that signal does not end us.
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100);
  });
}
