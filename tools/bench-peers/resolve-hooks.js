// Node ESM resolve hook for tfjs-core's ES-module build, whose files import siblings without
// extensions and folders without index files (bundler style). Only used to load
// `@tensorflow/tfjs-core/dist/register_all_gradients.js`: tfjs-core's Node bundle leaves the
// gradient registry empty, and the registry is global, so the ES-module copy fills it for both.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const fromTfjs = context.parentURL?.includes('/@tensorflow/');
    if (!fromTfjs || !specifier.startsWith('.')) throw e;
    for (const suffix of ['.js', '/index.js']) {
      try {
        return await next(specifier + suffix, context);
      } catch {
        // try the next form
      }
    }
    throw e;
  }
}
