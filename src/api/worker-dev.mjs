// Runs the engine worker from the TypeScript sources (tests, tsx): the new thread has none of its
// parent's module hooks, so register the TypeScript and .wgsl/.wasm loaders first.
await import(new URL('../../tools/register.js', import.meta.url).href);
await import(new URL('./worker.ts', import.meta.url).href);
