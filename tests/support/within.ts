/** Waiting for something that should end, without hanging when it does not. */

/**
 * What `promise` gives, or `undefined` when it has not settled within
 * `ms`: a lost stop makes a test fail, not hang.
 *
 * @param promise What should end.
 * @param ms How long it may take, generously.
 * @returns Its value, or `undefined`.
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
