// `webfcn info`: the adapter in use (backend, vendor, architecture, limits, features) and why.
import { acquireGpu } from '../gpu/device.js';

export const infoHelp = `webfcn info [--json] [--backend default|opengles|swiftshader]

Prints the WebGPU adapter webfcn uses on this machine and why it was chosen.

  --json       print the report as JSON (limits and features in full)
  --backend B  try only one of Dawn's backends: default (a hardware adapter: Vulkan, Metal or
               D3D12), opengles (Mesa llvmpipe, a CPU), swiftshader (a CPU, through Vulkan);
               WEBFCN_BACKEND does the same for every command. Without it: hardware first, then
               opengles, then swiftshader.`;

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
