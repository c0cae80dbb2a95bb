// The webfcn command line (see the README's command table). Flags are kebab-case, sizes HxW,
// errors go to stderr with a non-zero exit code.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { configureAutotune } from '../gpu/autotune.js';
import { enableRelaxedSimd } from '../backends/wasm/runtime.js';
import { UsageError } from './args.js';
import { info, infoHelp } from './info.js';
import { computeHelp, computeOptions } from './compute.js';
import { synth, synthHelp, synthOptions } from './synth.js';
import { train, trainHelp, trainOptions } from './train.js';
import { evaluate, evaluateHelp, evaluateOptions } from './evaluate.js';
import { predict, predictHelp, predictOptions } from './predict.js';
import { upsample, upsampleHelp, upsampleOptions } from './upsample.js';
import { bench, benchHelp, benchOptions } from './bench.js';
import { exportHelp, exportModel, exportOptions } from './export.js';

interface Command {
  help: string;
  /** Takes --backend/--adapter/--threads (and lists them in its help). */
  computes?: boolean;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>): Promise<void>;
}

const commands: Record<string, Command> = {
  info: { help: infoHelp, computes: true, options: { json: { type: 'boolean' } }, run: info },
  synth: { help: synthHelp, options: synthOptions, run: synth },
  train: { help: trainHelp, computes: true, options: trainOptions, run: train },
  evaluate: { help: evaluateHelp, computes: true, options: evaluateOptions, run: evaluate },
  predict: { help: predictHelp, computes: true, options: predictOptions, run: predict },
  upsample: { help: upsampleHelp, computes: true, options: upsampleOptions, run: upsample },
  bench: { help: benchHelp, computes: true, options: benchOptions, run: bench },
  export: { help: exportHelp, options: exportOptions, run: exportModel },
};

/** A command's help, with the backend flags for the commands that compute. */
function helpOf(cmd: Command): string {
  return cmd.computes ? `${cmd.help}\n\n${computeHelp}` : cmd.help;
}

/** The first sentence of a command's help paragraph (the text after its usage line). */
function summary(help: string): string {
  const paragraph = help.split('\n\n')[1] ?? '';
  const text = paragraph.replace(/\s+/g, ' ').trim();
  const end = text.search(/\.(\s|$)/);
  return end > 0 ? text.slice(0, end + 1) : text;
}

const usage = `webfcn — Fully Convolutional Networks on WebGPU

usage: webfcn <command> [options]   (webfcn <command> --help for its options)

global options:
  --verbose     also show what the native WebGPU library (Dawn) prints, such as its warnings while
                it looks for an adapter, and the stack of an error (same as WEBFCN_LOG=debug)

commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${summary(c.help)}`)
  .join('\n')}`;

export async function main(argv: string[]): Promise<number> {
  // --verbose is global: accepted anywhere on the line. The native output it shows is filtered by
  // bin/webfcn.js (out of this process); here it adds error stacks.
  const verbose = argv.includes('--verbose') || (process.env.WEBFCN_LOG ?? '').toLowerCase() === 'debug' || !!process.env.WEBFCN_DEBUG;
  const [name, ...rest] = argv.filter((a) => a !== '--verbose');
  if (!name || name === '--help' || name === '-h') {
    console.log(usage);
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`webfcn: unknown command '${name}'\n\n${usage}`);
    return 2;
  }
  try {
    // The wasm backend's fastest SIMD level (Node 20 has relaxed SIMD behind a flag).
    enableRelaxedSimd();
    // Kernel choices measured on hardware adapters persist across runs when this names a file.
    if (process.env.WEBFCN_AUTOTUNE_FILE) configureAutotune({ file: process.env.WEBFCN_AUTOTUNE_FILE });
    const flags = cmd.computes ? { ...computeOptions, ...cmd.options } : cmd.options;
    const { values } = parseArgs({ args: rest, options: { ...flags, help: { type: 'boolean', short: 'h' } }, strict: true });
    if (values.help) {
      console.log(helpOf(cmd));
      return 0;
    }
    await cmd.run(values as Record<string, string | boolean | undefined>);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`webfcn ${name}: ${err.message}\n\n${helpOf(cmd)}`);
      return 2;
    }
    console.error(`webfcn ${name}: ${err.message}`);
    if (verbose) console.error(err.stack);
    return 1;
  }
}

