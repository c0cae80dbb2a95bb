// WGSL sources are imported as strings (tools/wgsl-plugin.js inlines them at build time).
declare module '*.wgsl' {
  const source: string;
  export default source;
}

// WebAssembly modules are imported as their bytes (inlined base64 in bundles).
declare module '*.wasm' {
  const bytes: Uint8Array;
  export default bytes;
}
