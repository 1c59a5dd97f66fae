// Greets each argument, prints GREETING from the environment, and exits with
// the code given as EXIT_CODE (0 by default).
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const char *greeting = getenv("GREETING");
  for (int i = 1; i < argc; i++) {
    printf("%s, %s!\n", greeting ? greeting : "hello", argv[i]);
  }
  fprintf(stderr, "%d arguments\n", argc - 1);
  const char *code = getenv("EXIT_CODE");
  return code ? atoi(code) : 0;
}
