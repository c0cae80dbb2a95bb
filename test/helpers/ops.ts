// Runs one case of a registered op on the WebGPU backend: makes its tensors, plans every pass in
// order, submits them in one encoder, reads every output back and frees everything.
import type { Gpu } from '../../src/gpu/device.js';
import { disposeDispatch, submit, type Dispatch } from '../../src/gpu/kernel.js';
import { Tensor } from '../../src/gpu/tensor.js';
import type { HostTensors, OpEntry, PassName } from '../../src/ops/types.js';

export interface OpRun {
  outputs: HostTensors;
  /** Pipeline labels of the planned dispatches (which kernels ran), in order. */
  kernels: string[];
  /** Dispatch labels, in order. */
  labels: string[];
}

/** Creates the case's tensors: inputs from `inputs`, outputs at their init or a copy of their `from` input. */
export function makeTensors<P>(gpu: Gpu, op: OpEntry<P>, p: P, inputs: HostTensors): Record<string, Tensor> {
  const specs = op.tensors(p);
  const t: Record<string, Tensor> = {};
  try {
    for (const [name, s] of Object.entries(specs)) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const given = s.role === 'input' ? inputs[name] : s.from ? inputs[s.from] : undefined;
      if (s.role === 'input' && !given) throw new Error(`${op.name}: no data for input '${name}'`);
      const data = given ?? (s.dtype === 'f32' ? new Float32Array(n).fill(s.init ?? 0) : new Uint32Array(n).fill(s.init ?? 0));
      if (data.length !== n) throw new Error(`${op.name}: '${name}' has ${data.length} values, shape [${s.shape.join(', ')}] needs ${n}`);
      const typed = s.dtype === 'f32' ? Float32Array.from(data) : Uint32Array.from(data);
      t[name] = Tensor.from(gpu, typed, s.shape, name);
    }
  } catch (e) {
    for (const x of Object.values(t)) x.dispose();
    throw e;
  }
  return t;
}

/** Plans `passes` (default: all) of `op` over `t`, freeing what was planned if one fails. */
export async function planPasses<P>(gpu: Gpu, op: OpEntry<P>, p: P, t: Record<string, Tensor>, passes: readonly PassName[] = op.passes): Promise<Dispatch[]> {
  const ds: Dispatch[] = [];
  try {
    for (const pass of passes) {
      const planner = op.backends.webgpu.passes[pass];
      if (!planner) throw new Error(`${op.name}: no webgpu planner for pass '${pass}'`);
      ds.push(...(await planner.plan(gpu, p, t, 'case')));
    }
  } catch (e) {
    for (const d of ds) disposeDispatch(gpu, d);
    throw e;
  }
  return ds;
}

/** Runs every pass of one case and returns its outputs. */
export async function runOp<P>(gpu: Gpu, op: OpEntry<P>, p: P, inputs: HostTensors): Promise<OpRun> {
  const t = makeTensors(gpu, op, p, inputs);
  try {
    const ds = await planPasses(gpu, op, p, t);
    try {
      submit(gpu, ds, `${op.name}.case`);
      const outputs: HostTensors = {};
      for (const [name, s] of Object.entries(op.tensors(p))) {
        if (s.role === 'output') outputs[name] = s.dtype === 'f32' ? await t[name]!.read() : await t[name]!.readU32();
      }
      return { outputs, kernels: ds.map((d) => d.pipeline.label), labels: ds.map((d) => d.label) };
    } finally {
      for (const d of ds) disposeDispatch(gpu, d);
    }
  } finally {
    for (const x of Object.values(t)) x.dispose();
  }
}
