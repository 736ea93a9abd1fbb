/** The message of an error, or the value itself as text: what logs and status show. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
