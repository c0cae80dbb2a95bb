// The run recipe (src/fcn/recipe.ts): the chapter's defaults, one validation with messages that
// name the option, the CLI's flags and the API's options agreeing value for value and error for
// error, and what a checkpoint records for --resume read back through the same schema.
import { describe, expect, it } from 'vitest';
import { EngineService } from '../../src/api/service.js';
import { UsageError } from '../../src/cli/args.js';
import { parseTrainOptions, RECIPE_FLAGS, resumeTrainOptions, trainHelp, trainOptions } from '../../src/cli/train.js';
import {
  checkOption, flatten, modelOptions, RecipeError, resumeOptions, RUN_OPTIONS, runMeta, runOptions, runProgress, trainingOptions,
  type RunInput, type RunOptionName,
} from '../../src/fcn/recipe.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/io/normalisation.js';

const NAMES = Object.keys(RUN_OPTIONS) as RunOptionName[];

/** Every option set away from its default, as the API takes it and as CLI flags. */
const API: Required<RunInput> = {
  classes: 5, head: 'fcn8s', transposeInit: 'xavier', seed: 7, epochs: 3, batchSize: 4, crop: [64, 96], lr: 0.02,
  weightDecay: 5e-4, momentum: 0.9, nesterov: true, loss: 'mean', schedule: 'poly', memoryMiB: 64, pretrained: 'r18.pth',
};
const FLAGS: Record<string, string | boolean> = {
  data: 'voc', classes: '5', head: 'fcn8s', 'transpose-init': 'xavier', seed: '7', epochs: '3', 'batch-size': '4', crop: '64x96',
  lr: '0.02', 'weight-decay': '5e-4', momentum: '0.9', nesterov: true, loss: 'mean', schedule: 'poly', 'memory-mib': '64', pretrained: 'r18.pth',
};

/** One bad value per option, as the API writes it and as a flag's text. */
const BAD: Record<RunOptionName, [unknown, string | boolean]> = {
  classes: [1, '1'], head: ['fcn4s', 'fcn4s'], transposeInit: ['zeros', 'zeros'], seed: [-1, '-1'], epochs: [0, '0'],
  batchSize: [2.5, '2.5'], crop: [[30, 64], '30x64'], lr: [-0.1, '-0.1'], weightDecay: [NaN, 'abc'], momentum: [-1, '-1'],
  nesterov: ['yes', true], loss: ['max', 'max'], schedule: ['cosine', 'cosine'], memoryMiB: [0, '0'], pretrained: ['', ''],
};

describe('run recipe', () => {
  it("defaults to the chapter's recipe", () => {
    expect(runOptions({})).toEqual({
      classes: 21, head: 'fcn32s', transposeInit: 'bilinear', seed: 0, epochs: 5, batchSize: 32, crop: [320, 480],
      optimizer: { lr: 0.001, weightDecay: 1e-3, momentum: 0, nesterov: false, reduction: 'sum' },
      schedule: 'constant', memoryMiB: 1536, pretrained: null,
    });
  });

  it('rejects a bad value of every option with a RecipeError that names the option and no CLI flag', () => {
    for (const name of NAMES) {
      if (name === 'nesterov') continue; // a flag can only be true; the API's non-boolean is checked below
      const [value] = BAD[name];
      let err: unknown;
      try {
        runOptions({ [name]: value } as RunInput);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(RecipeError);
      expect((err as RecipeError).option).toBe(name);
      expect((err as Error).message.startsWith(`${name} `), (err as Error).message).toBe(true);
      expect((err as Error).message).not.toMatch(/--/);
    }
    expect(() => checkOption('nesterov', 'yes')).toThrow(/^nesterov must be true or false, got 'yes'$/);
    expect(() => checkOption('crop', [30, 64])).toThrow(/^crop must be \[H, W\] with positive multiples of 32 \(the backbone's stride\), got \[30,64\]$/);
    expect(() => checkOption('crop', 320)).toThrow(/^crop must be \[H, W\]/);
    // The worker API's callers see RangeErrors, as before the recipe.
    expect(new RecipeError('lr', 'must be a number >= 0', -1).name).toBe('RangeError');
  });

  it('the CLI maps every option to a flag and parses the same values as the API', () => {
    for (const name of NAMES) expect(trainOptions, name).toHaveProperty(RECIPE_FLAGS[name]);
    expect(parseTrainOptions(FLAGS)).toEqual({ ...runOptions(API), data: 'voc' });
    expect(flatten(runOptions(API))).toEqual(API);
    expect(parseTrainOptions({ data: 'voc' })).toEqual({ ...runOptions({}), data: 'voc' });
  });

  it('the CLI rejects what the API rejects, naming the flag, with the same explanation', () => {
    for (const name of NAMES) {
      const [apiValue, text] = BAD[name];
      if (name === 'nesterov') continue;
      let apiErr: RecipeError | undefined;
      try {
        runOptions({ [name]: apiValue } as RunInput);
      } catch (e) {
        apiErr = e as RecipeError;
      }
      const flag = RECIPE_FLAGS[name];
      let cliErr: Error | undefined;
      try {
        parseTrainOptions({ data: 'voc', [flag]: text });
      } catch (e) {
        cliErr = e as Error;
      }
      expect(cliErr, name).toBeInstanceOf(UsageError);
      // A size flag is HxW text: the CLI says what its sides must be.
      const detail = name === 'crop' ? "sides must be multiples of 32 (the backbone's stride)" : apiErr!.detail;
      expect(cliErr!.message).toBe(`--${flag} ${detail}; got '${text}'`);
    }
    // The minimum number of classes is one number for both.
    expect(() => parseTrainOptions({ data: 'voc', classes: '1' })).toThrow(/^--classes must be an integer in \[2, 255\]; got '1'$/);
    expect(() => modelOptions({ classes: 1 })).toThrow(/^classes must be an integer in \[2, 255\], got 1$/);
    expect(() => parseTrainOptions({ classes: '3' })).toThrow(/--data DIR is required/);
  });

  it("the API's build() and train() validate through the recipe before touching the GPU", async () => {
    const service = new EngineService();
    await expect(service.build({ classes: 1 })).rejects.toThrow(/^build: classes must be an integer in \[2, 255\], got 1$/);
    await expect(service.build({ classes: 3, head: 'fcn4s' as never })).rejects.toThrow(/^build: head must be one of fcn32s, fcn16s, fcn8s, got 'fcn4s'$/);
    // Past validation, build() needs the compute backend init() acquires.
    await expect(service.build({ classes: 3 })).rejects.toThrow(/no compute backend/);
    expect(() => trainingOptions({ memoryMiB: 0 })).toThrow(/^memoryMiB must be a number >= 1, got 0$/);
  });

  it("the help states the schema's defaults", () => {
    expect(trainHelp).toMatch(/--classes 21 --epochs 5 --batch-size 32 --crop 320x480\n--lr 0.001 --weight-decay 0.001 --momentum 0 --loss sum/);
    expect(trainHelp).toMatch(/--memory-mib M .*\(default 1536\); saved for --resume/);
  });

  it('a run records everything it needs and resumes through the same schema', () => {
    const opts = { ...runOptions(API), data: 'voc' };
    const record = JSON.parse(JSON.stringify(runProgress(opts, 2, 10, []))) as { options: Record<string, unknown> };
    expect(resumeOptions(record.options, 'ck')).toEqual(runOptions(API));
    expect(record.options.memoryMiB).toBe(64);
    // --resume reuses the record: --epochs may grow, --data may move, nothing else may change.
    expect(resumeTrainOptions({ resume: 'ck', epochs: '4' }, 'ck', record.options)).toEqual({ ...runOptions({ ...API, epochs: 4 }), data: 'voc' });
    expect(resumeTrainOptions({ resume: 'ck', data: 'elsewhere' }, 'ck', record.options).data).toBe('elsewhere');
    expect(() => resumeTrainOptions({ resume: 'ck', 'memory-mib': '128' }, 'ck', record.options)).toThrow(/--memory-mib cannot change on --resume: the run's options come from ck/);
    expect(() => resumeTrainOptions({ resume: 'ck', lr: '1', seed: '2' }, 'ck', record.options)).toThrow(/--lr, --seed cannot change on --resume/);
    expect(() => resumeTrainOptions({ resume: 'ck', epochs: '0' }, 'ck', record.options)).toThrow(/^--epochs must be an integer in \[1, \d+\]; got '0'$/);
    // A record from before memoryMiB was saved gets the one default there was.
    const { memoryMiB: _, ...older } = record.options;
    expect(resumeOptions(older, 'old.safetensors').memoryMiB).toBe(1536);
    // A tampered record is an error naming the option and the file.
    expect(() => resumeOptions({ ...record.options, batchSize: 0 }, 'bad.safetensors'))
      .toThrow(/^batchSize must be an integer in \[1, \d+\] \(in the run options bad\.safetensors records\), got 0$/);
    expect(() => resumeTrainOptions({ resume: 'ck' }, 'ck', { ...record.options, data: undefined })).toThrow(/ck records no dataset folder: pass --data DIR/);
  });

  it("a new run's metadata: ImageNet normalisation, default names and colours per class", () => {
    const meta = runMeta({ classes: 3, head: 'fcn16s' }, { classNames: ['bg', 'a', 'b', 'extra'] });
    expect(meta.config).toEqual({ classes: 3, head: 'fcn16s' });
    expect(meta.classNames).toEqual(['bg', 'a', 'b']);
    expect(meta.colormap).toHaveLength(3);
    expect(meta.mean).toEqual([...IMAGENET_MEAN]);
    expect(meta.std).toEqual([...IMAGENET_STD]);
    // Unnamed classes: neutral names, unless K = 21 (Pascal VOC's).
    expect(runMeta({ classes: 2, head: 'fcn32s' }).classNames).toEqual(['background', 'class 1']);
    expect(runMeta({ classes: 21, head: 'fcn32s' }).classNames.slice(0, 2)).toEqual(['background', 'aeroplane']);
  });
});
