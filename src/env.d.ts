// WGSL sources are imported as strings (tools/wgsl-plugin.js inlines them at build time).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
