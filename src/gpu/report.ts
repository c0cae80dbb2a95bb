// What the engine says about its GPU, as plain types and one error class: no WebGPU types here,
// so the public declarations (api/types.ts, the Node entry) type-check in projects without the
// DOM or @webgpu/types. device.ts re-exports everything.

/** What `webfcn info` prints: the adapter in use and why it was chosen. */
export interface AdapterReport {
  /** Dawn backend in Node ('vulkan', 'opengles', ...), or 'browser'. */
  backend: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** 'core' or 'compatibility' (OpenGL ES class devices, and every software adapter here). */
  featureLevel: 'core' | 'compatibility';
  /** True for CPU-emulated adapters (llvmpipe, SwiftShader). */
  software: boolean;
  features: string[];
  limits: Record<string, number>;
  /** Why this adapter was chosen, and what was tried before it. */
  reason: string;
}

export interface AcquireOptions {
  /** Force one Node (Dawn) adapter: 'default' | 'opengles' | 'swiftshader'. Env: WEBFCN_ADAPTER. */
  backend?: string;
  /** Ask for 'core' only (fails on compatibility-only adapters). */
  requireCore?: boolean;
  /** Only a hardware adapter: fail (quickly, without probing software adapters) when there is none. */
  hardwareOnly?: boolean;
}

/** A GPU error with the label of the kernel or buffer that caused it. */
export class GpuError extends Error {
  constructor(message: string, readonly label?: string) {
    super(label ? `${label}: ${message}` : message);
    this.name = 'GpuError';
  }
}

/** Live GPU memory owned by one Gpu, for leak tests and `info`. */
export interface MemoryStats {
  liveBuffers: number;
  liveBytes: number;
}
