// ONNX model files: a small graph builder over the ONNX protobuf schema, encoded by protobufjs
// through the onnx-proto package's generated code (no hand-written protobuf). It knows tensors,
// nodes and attributes, not the FCN: the network's graph is built in src/fcn/export.ts.

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export class OnnxWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxWriteError';
  }
}

/** IR version 8 (ONNX 1.10-1.12): what opset 17 needs and what every current runtime reads. */
export const ONNX_IR_VERSION = 8;

/** A dimension: a fixed size or a symbolic name (dynamic). */
export type OnnxDim = number | string;

export type OnnxAttr = number | number[] | string;

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** Integers (whole numbers) become INT/INTS, other numbers FLOAT; strings STRING. */
  attrs?: Record<string, OnnxAttr>;
  /** Numbers here are written as FLOAT even when whole (e.g. epsilon = 1). */
  floatAttrs?: readonly string[];
}

function attribute(name: string, v: OnnxAttr, asFloat: boolean): InstanceType<typeof onnx.AttributeProto> {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) {
    if (!asFloat && v.every(Number.isInteger)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: v });
    return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: v });
  }
  if (!asFloat && Number.isInteger(v)) return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v });
}

function valueInfo(name: string, dims: readonly OnnxDim[]): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

/** Collects float32 initializers, nodes, inputs and outputs, then encodes a ModelProto. */
export class OnnxGraphBuilder {
  private readonly nodes: Array<InstanceType<typeof onnx.NodeProto>> = [];
  private readonly initializers: Array<InstanceType<typeof onnx.TensorProto>> = [];
  private readonly inputs: Array<InstanceType<typeof onnx.ValueInfoProto>> = [];
  private readonly outputs: Array<InstanceType<typeof onnx.ValueInfoProto>> = [];
  private readonly names = new Set<string>();

  constructor(readonly graphName: string) {}

  /** A float32 constant (weights); its values are copied into the file as little-endian raw data. */
  initializer(name: string, shape: readonly number[], data: Float32Array): string {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new OnnxWriteError(`initializer '${name}': ${data.length} values for shape [${shape}]`);
    this.claim(name);
    const raw = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    this.initializers.push(onnx.TensorProto.create({ name, dims: [...shape], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw }));
    return name;
  }

  input(name: string, dims: readonly OnnxDim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: readonly OnnxDim[]): void {
    if (!this.names.has(name)) throw new OnnxWriteError(`graph output '${name}' is produced by no node`);
    this.outputs.push(valueInfo(name, dims));
  }

  /** Adds a node; each output name must be new (ONNX graphs are in SSA form). Returns the first output. */
  node(n: OnnxNode): string {
    for (const i of n.inputs) if (i !== '' && !this.names.has(i)) throw new OnnxWriteError(`node '${n.name ?? n.op}': input '${i}' is not defined yet`);
    for (const o of n.outputs) this.claim(o);
    const floats = new Set(n.floatAttrs ?? []);
    this.nodes.push(
      onnx.NodeProto.create({
        opType: n.op,
        name: n.name ?? n.outputs[0],
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v, floats.has(k))),
      }),
    );
    return n.outputs[0]!;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new OnnxWriteError(`name '${name}' is defined twice`);
    this.names.add(name);
  }

  /** The model's bytes (opset `opset` of the default domain). */
  encode(opts: { opset: number; producer: string; producerVersion?: string; docString?: string; metadata?: Record<string, string> }): Uint8Array {
    if (!this.outputs.length) throw new OnnxWriteError('the graph has no outputs');
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      producerName: opts.producer,
      producerVersion: opts.producerVersion ?? '',
      docString: opts.docString ?? '',
      opsetImport: [{ domain: '', version: opts.opset }],
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
