// Child process for the atomic-write tests: slowly writes `mb` MiB of 0xAB to argv[2] with
// writeFileAtomic, printing 'started' after the first chunk, so the parent can kill it mid-write.
import { writeFileAtomic } from '../../src/io/atomic';

const [target, mb, delayMs] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
const CHUNK = 256 << 10;

async function* chunks(): AsyncGenerator<Uint8Array> {
  const chunk = new Uint8Array(CHUNK).fill(0xab);
  for (let i = 0; i < (mb << 20) / CHUNK; i++) {
    yield chunk;
    if (i === 0) process.stdout.write('started\n');
    await new Promise((r) => setTimeout(r, delayMs));
  }
}

await writeFileAtomic(target, chunks());
process.stdout.write('done\n');
