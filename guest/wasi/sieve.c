// Counts the primes below N (first argument, default 10000000) with the
// sieve of Eratosthenes, then sorts a pseudo-random array with qsort, and
// prints both results: enough work to measure what metering costs.
#include <stdio.h>
#include <stdlib.h>

static int compare(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000000;
  unsigned char *composite = calloc(n, 1);
  if (!composite) return 1;
  long primes = 0;
  for (long i = 2; i < n; i++) {
    if (composite[i]) continue;
    primes++;
    if (i > n / i) continue;
    for (long j = i * i; j < n; j += i) composite[j] = 1;
  }
  free(composite);
  long count = n / 10;
  unsigned *values = malloc(count * sizeof *values);
  if (!values) return 1;
  unsigned state = 12345;
  for (long i = 0; i < count; i++) {
    state = state * 1103515245u + 12345u;
    values[i] = state;
  }
  qsort(values, count, sizeof *values, compare);
  unsigned long checksum = 0;
  for (long i = 0; i < count; i += count / 100 + 1) checksum += values[i] % 1000;
  printf("primes below %ld: %ld\nsorted %ld values, checksum %lu\n", n, primes, count, checksum);
  free(values);
  return 0;
}
