// One base class for every checkpoint-reading failure, so callers (and the fuzz tests) can tell a
// rejected file from a bug: anything else escaping these readers is a defect.

/** A file (checkpoint, archive, pickle) was rejected; the message starts with the file's name. */
export class CheckpointError extends Error {
  constructor(message: string, readonly source = '<buffer>') {
    super(`${source}: ${message}`);
    this.name = 'CheckpointError';
  }
}
