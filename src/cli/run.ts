// The `webfcn` executable's entry point.
import { main } from './main.js';

const code = await main(process.argv.slice(2));
// Let piped stdout/stderr drain (they are asynchronous on some platforms), then exit explicitly:
// Dawn can crash in its exit-time teardown when Node unwinds on its own with GPU objects still
// waiting for collection.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
process.exit(code);
