/**
 * Errors a route throws to answer with a status code and a message meant for
 * the caller. Anything else is a 500 whose details stay in the service's log.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    message: string,
    /** Extra fields of the JSON answer (e.g. `current` on a 409). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string): ApiError => new ApiError(404, `${what} not found`);
export const forbidden = (message: string): ApiError => new ApiError(403, message);
