// Copies the file SRC to DST, both paths inside a preopened directory; "-"
// stands for stdin or stdout. Prints the number of bytes copied on stderr.
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: copy SRC DST\n");
    return 2;
  }
  FILE *in = argv[1][0] == '-' && argv[1][1] == 0 ? stdin : fopen(argv[1], "rb");
  if (!in) {
    perror(argv[1]);
    return 1;
  }
  FILE *out = argv[2][0] == '-' && argv[2][1] == 0 ? stdout : fopen(argv[2], "wb");
  if (!out) {
    perror(argv[2]);
    return 1;
  }
  char buffer[4096];
  size_t n, total = 0;
  while ((n = fread(buffer, 1, sizeof buffer, in)) > 0) {
    if (fwrite(buffer, 1, n, out) != n) {
      perror(argv[2]);
      return 1;
    }
    total += n;
  }
  if (ferror(in)) {
    perror(argv[1]);
    return 1;
  }
  if (fclose(out) != 0) {
    perror(argv[2]);
    return 1;
  }
  fprintf(stderr, "copied %zu bytes\n", total);
  return 0;
}
