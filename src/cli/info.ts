// `webfcn info`: the adapter in use (backend, vendor, architecture, limits, features) and why.
import { acquireGpu } from '../gpu/device.js';

export const infoHelp = `webfcn info [--json] [--backend default|opengles|swiftshader]

Prints the WebGPU adapter webfcn uses on this machine and why it was chosen.`;

export async function info(opts: { json: boolean; backend?: string }): Promise<void> {
  const gpu = await acquireGpu({ backend: opts.backend });
  try {
    const r = gpu.report;
    if (opts.json) {
      console.log(JSON.stringify(r, null, 2));
      return;
    }
    const keyLimits = [
      'maxStorageBufferBindingSize',
      'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup',
      'maxStorageBuffersPerShaderStage',
      'maxComputeWorkgroupsPerDimension',
    ];
    console.log(`backend       ${r.backend} (${r.featureLevel}${r.software ? ', software' : ''})`);
    console.log(`vendor        ${r.vendor || '-'}`);
    console.log(`architecture  ${r.architecture || '-'}`);
    console.log(`device        ${r.device || '-'}`);
    console.log(`description   ${r.description || '-'}`);
    console.log(`features      ${r.features.join(', ') || '-'}`);
    for (const k of keyLimits) console.log(`${k.padEnd(34)}${r.limits[k]}`);
    console.log(`why           ${r.reason}`);
  } finally {
    gpu.dispose();
  }
}
