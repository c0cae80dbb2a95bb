// The `webfcn` executable's entry point.
import { main } from './main.js';

// Exit explicitly: Dawn can crash in its exit-time teardown when Node unwinds on its own with GPU
// objects still waiting for collection.
process.exit(await main(process.argv.slice(2)));
