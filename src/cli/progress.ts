// A one-line progress bar on stderr: epoch, steps, loss, images/s and ETA.
import type { StepProgress } from '../fcn/fit.js';

function clock(sec: number): string {
  if (!Number.isFinite(sec)) return '--:--';
  const s = Math.round(sec);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * Whether stderr is a terminal: directly, or behind bin/webfcn.js, which pipes the CLI's stderr
 * through its native-noise filter and says in WEBFCN_STDERR_TTY whether its own stderr is one.
 */
export function stderrIsTTY(): boolean {
  return process.env.WEBFCN_STDERR_TTY ? process.env.WEBFCN_STDERR_TTY === '1' : !!process.stderr.isTTY;
}

export class ProgressBar {
  private active = false;
  private readonly tty: boolean;

  constructor(
    private readonly epochs: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = stream === process.stderr ? stderrIsTTY() : !!stream.isTTY;
  }

  update(p: StepProgress): void {
    const width = 24;
    const filled = Math.round((p.step / p.stepsPerEpoch) * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const loss = Number.isFinite(p.loss) ? p.loss.toFixed(3) : '-';
    const acc = Number.isFinite(p.accuracy) ? p.accuracy.toFixed(3) : '-';
    const line = `epoch ${p.epoch + 1}/${this.epochs} [${bar}] ${p.step}/${p.stepsPerEpoch} loss ${loss} acc ${acc} ${p.imagesPerSec.toFixed(1)} img/s ETA ${clock(p.etaSec)}`;
    if (this.tty) this.stream.write(`\r${line}\x1b[K`);
    else if (p.step === p.stepsPerEpoch || p.step % 10 === 0) this.stream.write(`${line}\n`);
    this.active = true;
  }

  done(): void {
    if (this.active && this.tty) this.stream.write('\n');
    this.active = false;
  }
}
