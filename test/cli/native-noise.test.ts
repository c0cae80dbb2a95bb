// The stderr filter of bin/webfcn.js: Dawn's warnings (and their continuation lines) are dropped,
// everything else passes unchanged, wherever the pipe happens to split the text.
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JS shipped in bin/, no type declarations
import { NativeNoiseFilter } from '../../bin/native-noise.js';

/** Feeds `chunks` through a filter; returns what it wrote and the writes one by one. */
function filter(chunks: string[]): { text: string; writes: string[] } {
  const writes: string[] = [];
  const f = new NativeNoiseFilter((t: string) => writes.push(t));
  for (const c of chunks) f.push(c);
  f.flush();
  return { text: writes.join(''), writes };
}

// What Dawn printed on a machine with no Vulkan driver, opening Mesa llvmpipe through OpenGL ES.
const DAWN = [
  'Warning: vkCreateInstance: Found no drivers!\n',
  'Warning: vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER\n',
  '    at CheckVkSuccessImpl (/build/third_party/dawn/src/dawn/native/vulkan/VulkanError.cpp:106)\n',
  '\n',
  'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16 to fit dynamic offset allocation limit.\n',
  'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 80 to 16 to fit dynamic offset allocation limit.\n',
].join('');

const OURS = [
  'VOC2012/train: read 4 examples\n',
  '(node:1234) Warning: something Node wants to say\n',
  'Error: Dawn error lines pass\n',
  '\n',
  'webfcn train: loss became NaN at epoch 1\n',
  '    at main (dist/cli.js:10:3)\n',
].join('');

describe('NativeNoiseFilter', () => {
  it("drops Dawn's warnings with their continuation lines and passes everything else", () => {
    expect(filter([DAWN + OURS]).text).toBe(OURS);
    expect(filter([OURS + DAWN + OURS]).text).toBe(OURS + OURS);
  });

  it('gives the same result however the stream is split (byte by byte, and at random)', () => {
    const all = `${OURS}${DAWN}\r epoch 1/2 [##..] 1/2\x1b[K\r epoch 1/2 [####] 2/2\x1b[K\n${DAWN}done\n`;
    const want = `${OURS}\r epoch 1/2 [##..] 1/2\x1b[K\r epoch 1/2 [####] 2/2\x1b[K\ndone\n`;
    expect(filter([...all]).text).toBe(want);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 20; trial++) {
      const chunks: string[] = [];
      for (let i = 0; i < all.length; ) {
        const n = 1 + Math.floor(rnd() * 40);
        chunks.push(all.slice(i, i + n));
        i += n;
      }
      expect(filter(chunks).text).toBe(want);
    }
  });

  it('shows a progress-bar redraw at once, before its line ends', () => {
    const { writes } = filter(['\repoch 1/10 [#...] 1/16 loss 1.2\x1b[K']);
    expect(writes.join('')).toBe('\repoch 1/10 [#...] 1/16 loss 1.2\x1b[K');
    // Only a partial line that could still become "Warning: " waits for its end.
    const w = new NativeNoiseFilter((t: string) => writes.push(t));
    writes.length = 0;
    w.push('Warn');
    expect(writes).toEqual([]);
    w.push('ing: x\nnext');
    expect(writes.join('')).toBe('next');
  });

  it('keeps a last line without a newline, and drops a last noise line', () => {
    expect(filter(['exit message']).text).toBe('exit message');
    expect(filter(['Warning: trailing']).text).toBe('');
  });
});
