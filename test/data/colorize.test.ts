// colorize(): the one class-map colouring the CLI (class-map PNGs, prediction grid, overlays) and
// the worker API (predict()'s colours) share.
import { describe, expect, it } from 'vitest';
import { colorize, IGNORE_LABEL, VOC_COLORMAP } from '../../src/data/colormap.js';

describe('colorize', () => {
  const cmap: Array<[number, number, number]> = [[0, 0, 0], [128, 0, 0], [0, 128, 64]];
  const ids = Uint8Array.from([0, 2, 1, IGNORE_LABEL, 7]);

  it('maps ids to RGB through the colour map; the ignore label and unknown ids are white', () => {
    expect([...colorize(ids, cmap)]).toEqual([0, 0, 0, 0, 128, 64, 128, 0, 0, 255, 255, 255, 255, 255, 255]);
  });

  it('writes RGBA with opaque alpha when asked, the same colours', () => {
    const rgba = colorize(ids, cmap, 4);
    const rgb = colorize(ids, cmap, 3);
    expect(rgba.length).toBe(4 * ids.length);
    for (let i = 0; i < ids.length; i++) {
      expect([...rgba.subarray(4 * i, 4 * i + 3)]).toEqual([...rgb.subarray(3 * i, 3 * i + 3)]);
      expect(rgba[4 * i + 3]).toBe(255);
    }
  });

  it('takes any array-like of ids (u32 maps, plain arrays) and the VOC colours', () => {
    expect([...colorize(Uint32Array.from([15]), VOC_COLORMAP)]).toEqual([...VOC_COLORMAP[15]!]);
    expect([...colorize([1], VOC_COLORMAP)]).toEqual([...VOC_COLORMAP[1]!]);
  });
});
