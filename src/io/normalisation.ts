// Pixel bytes → network input values: the ImageNet statistics every webfcn model is trained with
// (torchvision's Normalize constants) and the folded form the kernels use. The one copy in the
// TypeScript sources; the AssemblyScript kernel (assembly/index.ts) keeps its own literals, which
// test/data/preprocess.test.ts checks against these bit for bit.

/** Per-channel mean and standard deviation of (v/255 − mean)/std. */
export interface Normalisation {
  mean: readonly number[];
  std: readonly number[];
}

/** ImageNet channel mean and standard deviation (torchvision's Normalize constants). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
export const IMAGENET: Normalisation = { mean: IMAGENET_MEAN, std: IMAGENET_STD };

/** Fresh mutable copies of the ImageNet statistics (for metadata that is edited or serialised). */
export function imagenetStats(): { mean: [number, number, number]; std: [number, number, number] } {
  return { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] };
}

/** True when `n` is exactly the ImageNet statistics. */
export function isImagenet(n: Normalisation): boolean {
  return n.mean.length === 3 && n.std.length === 3 &&
    n.mean.every((v, i) => v === IMAGENET_MEAN[i]) && n.std.every((v, i) => v === IMAGENET_STD[i]);
}

/**
 * (v/255 − mean_c)/std_c folded into out = f32(v · scale_c) + bias_c, scale_c = f32(1/(255·std_c)),
 * bias_c = f32(−mean_c/std_c): the constants the wasm kernel (assembly/index.ts), its TS twins
 * (src/data/preprocess-ts.ts) and the GPU frame normaliser (src/gpu/ops/image.ts) all use.
 */
export function foldNormalisation(mean: readonly number[], std: readonly number[]): { scale: number[]; bias: number[] } {
  return { scale: std.map((s) => Math.fround(1 / (255 * s))), bias: mean.map((m, c) => Math.fround(-m / std[c]!)) };
}
