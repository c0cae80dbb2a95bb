// The key layouts an FCN-ResNet18 checkpoint can come in, and the keys and shapes it must have.
//
// Canonical (webfcn) names are torchvision's resnet18 keys for the backbone plus the FCN head's
// module names. The d2l chapter builds the network as
//   net = nn.Sequential(*list(resnet18.children())[:-2]); net.add_module('final_conv', ...); ...
// so its backbone keys are the Sequential child indices: 0 = conv1, 1 = bn1, 2 = relu, 3 = maxpool,
// 4..7 = layer1..layer4 (avgpool and fc are cut off). CHAPTER_RENAMES is the one table mapping them.
import { StateDictError } from '../io/state_dict.js';
import { fcnParamSpecs, headSpec, type HeadKind } from './spec.js';

/** Chapter nn.Sequential child index -> canonical module name. Indices 2 (relu), 3 (maxpool) hold no parameters. */
export const CHAPTER_RENAMES: ReadonlyArray<readonly [string, string]> = [
  ['0', 'conv1'],
  ['1', 'bn1'],
  ['4', 'layer1'],
  ['5', 'layer2'],
  ['6', 'layer3'],
  ['7', 'layer4'],
];

export type FcnVariant = HeadKind;

/** Head modules of each variant, from the architecture table (src/fcn/spec.ts). */
export const HEADS: Record<FcnVariant, ReadonlyArray<{ name: string }>> = Object.fromEntries(
  (['fcn32s', 'fcn16s', 'fcn8s'] as const).map((v) => {
    const h = headSpec({ classes: 1, head: v });
    return [v, [...h.scores, ...h.deconvs].map((m) => ({ name: m.name }))];
  }),
) as unknown as Record<FcnVariant, ReadonlyArray<{ name: string }>>;

/** Module names of every head (named the same in every layout), derived from HEADS. */
export const HEAD_MODULES: readonly string[] = [...new Set(Object.values(HEADS).flatMap((h) => h.map((m) => m.name)))];

const CANONICAL_BACKBONE = /^(conv1|bn1|layer[1-4])\./;
const CHAPTER_KEY = /^(\d+)\./;

export type Layout = 'webfcn' | 'chapter' | 'mixed' | 'unknown';

function isHead(key: string): boolean {
  return HEAD_MODULES.some((m) => key.startsWith(m + '.'));
}

/** Which naming a set of keys uses ('module.' wrappers from DataParallel are looked through). */
export function detectLayout(keys: Iterable<string>): Layout {
  let chapter = 0;
  let canonical = 0;
  let other = 0;
  let head = 0;
  for (const raw of keys) {
    const k = raw.startsWith('module.') ? raw.slice(7) : raw;
    if (CANONICAL_BACKBONE.test(k) || k.startsWith('fc.')) canonical++;
    else if (CHAPTER_KEY.test(k)) chapter++;
    else if (isHead(k)) head++;
    else other++;
  }
  if (other) return 'unknown';
  if (chapter && canonical) return 'mixed';
  if (chapter) return 'chapter';
  if (canonical || head) return 'webfcn';
  return 'unknown';
}

function sample(keys: string[], n = 6): string {
  return keys.slice(0, n).map((k) => `'${k}'`).join(', ') + (keys.length > n ? `, … (${keys.length} in all)` : '');
}

/**
 * Maps a state dict to canonical webfcn names (chapter Sequential indices -> torchvision names,
 * 'module.' wrappers stripped, classifier 'fc.*' dropped), saying what it did in `notes`.
 */
export function toCanonical<T>(stateDict: Map<string, T>, source = '<state dict>'): { stateDict: Map<string, T>; notes: string[]; layout: Layout } {
  const notes: string[] = [];
  let entries = [...stateDict.entries()];
  if (entries.length && entries.every(([k]) => k.startsWith('module.'))) {
    entries = entries.map(([k, v]) => [k.slice(7), v]);
    notes.push("stripped the 'module.' prefix (a DataParallel wrapper) from every key");
  }
  const layout = detectLayout(entries.map(([k]) => k));
  if (layout === 'mixed') {
    const ch = entries.filter(([k]) => CHAPTER_KEY.test(k)).map(([k]) => k);
    const cn = entries.filter(([k]) => CANONICAL_BACKBONE.test(k)).map(([k]) => k);
    throw new StateDictError(`keys mix the chapter's Sequential layout (${sample(ch, 3)}) with torchvision names (${sample(cn, 3)})`, source);
  }
  if (layout === 'unknown') {
    const odd = entries.map(([k]) => k).filter((k) => !CANONICAL_BACKBONE.test(k) && !CHAPTER_KEY.test(k) && !isHead(k) && !k.startsWith('fc.'));
    throw new StateDictError(
      `unrecognised keys for FCN-ResNet18: ${sample(odd.length ? odd : entries.map(([k]) => k))}; expected torchvision resnet18 names ` +
        `('conv1.weight', 'layer1.0.conv1.weight', …) or the chapter's Sequential indices ('0.weight', '4.0.conv1.weight', …)`,
      source,
    );
  }
  const renames = new Map(CHAPTER_RENAMES);
  const out = new Map<string, T>();
  const from = new Map<string, string>();
  const dropped: string[] = [];
  const unmapped: string[] = [];
  for (const [k, v] of entries) {
    let name = k;
    if (layout === 'chapter') {
      const m = CHAPTER_KEY.exec(k);
      if (m) {
        const to = renames.get(m[1]!);
        if (to === undefined) {
          unmapped.push(k);
          continue;
        }
        name = to + k.slice(m[1]!.length);
      }
    }
    if (name.startsWith('fc.')) {
      dropped.push(k);
      continue;
    }
    const prev = from.get(name);
    if (prev !== undefined) throw new StateDictError(`keys '${prev}' and '${k}' both map to '${name}'`, source);
    from.set(name, k);
    out.set(name, v);
  }
  if (unmapped.length) {
    throw new StateDictError(`Sequential indices with no resnet18 module (only ${CHAPTER_RENAMES.map(([i]) => i).join(', ')} hold parameters): ${sample(unmapped)}`, source);
  }
  if (layout === 'chapter') notes.push(`renamed the chapter's nn.Sequential keys to torchvision names (${CHAPTER_RENAMES.map(([a, b]) => `${a}.* -> ${b}.*`).join(', ')})`);
  if (dropped.length) notes.push(`dropped the ImageNet classifier (${dropped.join(', ')}): FCN replaces it with a 1x1 convolution`);
  return { stateDict: out, notes, layout };
}

// ---------------------------------------------------------------------------------------------
// Expected shapes

/**
 * Canonical keys and shapes of a whole FCN-ResNet18 with `numClasses` outputs, in state_dict
 * order, with every BatchNorm's num_batches_tracked (shape []). Derived from the one architecture
 * table, src/fcn/spec.ts.
 */
export function fcnShapes(numClasses: number, variant: FcnVariant = 'fcn32s'): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of fcnParamSpecs({ classes: numClasses, head: variant })) {
    out.set(s.name, s.shape);
    if (s.name.endsWith('.running_var')) out.set(s.name.replace(/running_var$/, 'num_batches_tracked'), []);
  }
  return out;
}

/** torchvision resnet18's backbone keys and shapes in state_dict order (no 'fc.*'). */
export function resnet18Shapes(): Map<string, number[]> {
  return new Map([...fcnShapes(1)].filter(([k]) => !isHead(k)));
}
