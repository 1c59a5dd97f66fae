// Sleeps for the number of milliseconds in its first argument (default
// 3000), then prints "woke".
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  long ms = argc > 1 ? atol(argv[1]) : 3000;
  puts("sleeping");
  fflush(stdout);
  struct timespec duration = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&duration, NULL);
  puts("woke");
  return 0;
}
