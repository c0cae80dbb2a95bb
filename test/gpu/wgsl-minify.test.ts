// The WGSL every bundle and test carries is minified (tools/wgsl-plugin.js minifyWgsl): comments,
// indentation and empty lines go, the tokens and webfcn's directive comments stay. Checked on every
// shader in shaders/ (includes resolved) and on the cases that would break it.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { minifyWgsl, wgslSource } from '../../tools/wgsl-plugin.js';

function shaderFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? shaderFiles(p) : p.endsWith('.wgsl') ? [p] : [];
  });
}

/** A line's comment (from its first `//`) is a directive when it starts `// #NAME` or `// each `. */
const DIRECTIVE = /^\/\/ (?:#\w|each )/;
/** The WGSL tokens of `code` (comments dropped), as whitespace-separated words. */
const words = (code: string) => code.split('\n').map((l) => l.replace(/\/\/.*$/, '')).join(' ').split(/\s+/).filter(Boolean);
const directives = (code: string) => code.split('\n').filter((l) => l.includes('//')).map((l) => l.slice(l.indexOf('//'))).filter((c) => DIRECTIVE.test(c));

describe('minifyWgsl', () => {
  const files = shaderFiles(path.resolve('shaders'));

  it(`keeps the tokens, line breaks between them and directive comments of all ${files.length} shaders, and shrinks them`, () => {
    expect(files.length).toBeGreaterThan(30);
    let before = 0, after = 0;
    for (const f of files) {
      const src = wgslSource(f);
      const min = minifyWgsl(src, f);
      expect(words(min), f).toEqual(words(src));
      expect(directives(min), f).toEqual(directives(src));
      // Each line of the minified text is a whole source line, trimmed (no lines merged).
      const lines = new Set(src.split('\n').map((l) => l.trim()));
      for (const l of min.split('\n')) expect(lines.has(l) || [...lines].some((s) => s.startsWith(l) && /^\s*\/\//.test(s.slice(l.length))), `${f}: ${l}`).toBe(true);
      expect(min).not.toMatch(/^\s*$/m);
      before += src.length;
      after += min.length;
    }
    console.log(`WGSL: ${before} characters, ${after} minified (${((100 * after) / before).toFixed(0)}%)`);
    expect(after).toBeLessThan(0.75 * before);
  });

  it('strips comments and indentation but keeps marker lines and `// each` line ends; refuses block comments', () => {
    const src = [
      '// A kernel.',
      'const WG = 64u;   // workgroup size',
      '',
      'fn f() {',
      '    // #transform',
      '    let a_{i} = b[{i}];  // each i<4',
      '    x = y / 2u; // halve',
      '}',
    ].join('\n');
    expect(minifyWgsl(src)).toBe(['const WG = 64u;', 'fn f() {', '// #transform', 'let a_{i} = b[{i}];  // each i<4', 'x = y / 2u;', '}'].join('\n'));
    expect(() => minifyWgsl('let a = 1; /* note */', 'x.wgsl')).toThrow(/x\.wgsl: block comments/);
  });
});
