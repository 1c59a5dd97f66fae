// Never ends: prints one line, then counts for ever.
#include <stdio.h>

int main(void) {
  puts("looping");
  fflush(stdout);
  volatile unsigned long counter = 0;
  for (;;) counter++;
}
