// `webfcn info`: where webfcn computes on this machine (WebGPU adapter or WebAssembly threads and
// SIMD level) and why that was chosen.
import { wasmCapabilities } from '../fcn/compute.js';
import { openCompute } from './compute.js';

export const infoHelp = `webfcn info [--json] [--backend auto|webgpu|wasm] [--adapter A] [--threads N]

Prints where webfcn computes on this machine and why: the WebGPU adapter (vendor, architecture,
limits, features), or the WebAssembly backend (threads, SIMD level, shared memory).

  --json       print the report as JSON (limits and features in full)`;

export async function info(v: Record<string, string | boolean | undefined>): Promise<void> {
  const compute = await openCompute(v);
  try {
    const r = compute.report;
    const wasm = await wasmCapabilities();
    if (v.json) {
      console.log(JSON.stringify({ ...r, wasm }, null, 2));
      return;
    }
    console.log(`backend       ${r.backend}`);
    if (r.backend === 'wasm') {
      console.log(`threads       ${r.threads} (${wasm.cores} cores${r.sharedMemory ? ', shared memory' : ', no shared memory'})`);
      console.log(`simd          ${r.simd}${wasm.relaxedSimd ? '' : ' (relaxed SIMD not validated by this runtime)'}`);
    }
    const a = r.adapter;
    if (a) {
      const keyLimits = [
        'maxStorageBufferBindingSize',
        'maxBufferSize',
        'maxComputeWorkgroupStorageSize',
        'maxComputeInvocationsPerWorkgroup',
        'maxStorageBuffersPerShaderStage',
        'maxComputeWorkgroupsPerDimension',
      ];
      console.log(`adapter       ${a.backend} (${a.featureLevel}${a.software ? ', software' : ''})`);
      console.log(`vendor        ${a.vendor || '-'}`);
      console.log(`architecture  ${a.architecture || '-'}`);
      console.log(`device        ${a.device || '-'}`);
      console.log(`description   ${a.description || '-'}`);
      console.log(`features      ${a.features.join(', ') || '-'}`);
      for (const k of keyLimits) console.log(`${k.padEnd(34)}${a.limits[k]}`);
    }
    console.log(`why           ${r.reason}`);
  } finally {
    compute.dispose();
  }
}
