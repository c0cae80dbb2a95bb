// Longer fuzz runs on demand: the seeded mutation suites of the file readers (images, dataset
// lists, colour maps, webfcn checkpoints, .pth and .safetensors) with more cases than CI runs,
// and optionally a longer training soak.
//
//   node --import ./tools/register.js tools/fuzz.ts [cases=2000] [--soak STEPS]
//
// Each suite prints "<target>: N cases, X ok, Y refused (...)"; any case that is neither a
// correct result nor a clear refusal, runs over its time bound or grows memory past its bound
// fails the run with the case's seed-determined description.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const soakAt = args.indexOf('--soak');
const soak = soakAt >= 0 ? Number(args[soakAt + 1]) : 0;
const cases = Number(args.find((a, i) => /^\d+$/.test(a) && i !== soakAt + 1) ?? 2000);
if (!(cases > 0) || (soakAt >= 0 && !(soak > 0))) {
  console.error('usage: tools/fuzz.ts [cases] [--soak STEPS]');
  process.exit(2);
}
const files = ['test/hardening/images.test.ts', 'test/hardening/files.test.ts', 'test/io/fuzz.test.ts'];
if (soak) files.push('test/hardening/soak.test.ts');
const env = { ...process.env, WEBFCN_FUZZ_CASES: String(cases), ...(soak ? { WEBFCN_SOAK_STEPS: String(soak) } : {}) };
// A long run may exceed the suites' default per-test timeout.
const timeout = String(Math.max(120_000, cases * 200 + soak * 15_000));
const r = spawnSync('npx', ['vitest', 'run', '--testTimeout', timeout, ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
