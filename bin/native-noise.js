// What the `webfcn` command hides from stderr unless --verbose / WEBFCN_LOG=debug: the warnings
// that Dawn (the native WebGPU library) prints straight to file descriptor 2 while it probes
// backends and opens an adapter, e.g.
//
//   Warning: vkCreateInstance: Found no drivers!
//   Warning: vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER
//       at CheckVkSuccessImpl (.../dawn/native/vulkan/VulkanError.cpp:106)
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16 ...
//
// They come from C++ in the same process, so JavaScript cannot catch them there; bin/webfcn.js
// runs the CLI as a child and passes its stderr through this filter. The rule is narrow: a line
// that starts with Dawn's `Warning: ` tag is dropped, with its continuation lines (the indented
// `at CheckVkSuccessImpl (...)` location) and the blank line Dawn ends a message with. Everything
// else passes: webfcn's own messages, Node's `(node:PID) Warning: ...`, Dawn's `Error: ...` lines,
// crashes and stack traces.

/** Line starts that mark native noise. */
export const NATIVE_NOISE_PREFIXES = ['Warning: '];

const isNoise = (line) => NATIVE_NOISE_PREFIXES.some((p) => line.startsWith(p));
/** Whether a partial line could still turn out to be noise (so it must wait for its end). */
const mayBeNoise = (partial) => NATIVE_NOISE_PREFIXES.some((p) => p.startsWith(partial) || partial.startsWith(p));
/** A line that continues a dropped warning: blank, or the indented `at file:line` of its origin. */
const CONTINUATION = /^(\s+at\s.*)?$/;
/** A partial line that may still become a continuation line. */
const mayContinue = (partial) => /^\s+(a|at|at\s.*)?$/.test(partial);

/**
 * A streaming line filter. Lines end at '\n' or '\r' (so the progress bar's `\r...` redraws are
 * shown as they come); a partial line is written at once unless it may be noise.
 */
export class NativeNoiseFilter {
  /** @param {(text: string) => void} write */
  constructor(write) {
    this.write = write;
    this.buf = '';
    /** The current line's start was already written: the rest of it passes too. */
    this.passing = false;
    /** The previous line was noise: its continuation and closing blank line are dropped too. */
    this.dropping = false;
  }

  /** @param {string} chunk */
  push(chunk) {
    this.buf += chunk;
    for (let i = this.buf.search(/[\r\n]/); i >= 0; i = this.buf.search(/[\r\n]/)) {
      const text = this.buf.slice(0, i);
      const end = this.buf[i];
      this.buf = this.buf.slice(i + 1);
      this.line(text, end);
    }
    if (this.buf && (this.passing || (!mayBeNoise(this.buf) && !(this.dropping && mayContinue(this.buf))))) {
      this.write(this.buf);
      this.buf = '';
      this.passing = true;
      this.dropping = false;
    }
  }

  /** Writes what is left (a last line without its newline), unless it is noise. */
  flush() {
    if (this.buf && !isNoise(this.buf) && !(this.dropping && CONTINUATION.test(this.buf))) this.write(this.buf);
    this.buf = '';
  }

  line(text, end) {
    if (this.passing) {
      this.passing = false;
      this.write(text + end);
      return;
    }
    if (this.dropping && end === '\n' && CONTINUATION.test(text)) return;
    this.dropping = isNoise(text);
    if (!this.dropping) this.write(text + end);
  }
}
