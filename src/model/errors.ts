// Typed errors carrying the HTTP status the API answers with.
// The message is what the user sees after "Error: ", so it says what to fix.

export class BerthError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequest extends BerthError {
  constructor(message: string) {
    super(400, message);
  }
}

export class NotFound extends BerthError {
  constructor(message: string) {
    super(404, message);
  }
}

export class Conflict extends BerthError {
  constructor(message: string) {
    super(409, message);
  }
}

export class Internal extends BerthError {
  constructor(message: string) {
    super(500, message);
  }
}

export function statusOf(err: unknown): number {
  return err instanceof BerthError ? err.status : 500;
}
