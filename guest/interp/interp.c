/*
 * A switch-dispatch bytecode interpreter, the shape of the inner loop of
 * every interpreter people run as a guest (QuickJS, Lua, Python): fetch an
 * instruction, switch on its opcode, jump back. Its one program counts the
 * primes below n by trial division.
 *
 * Built with clang -O2 for wasm32 without a libc (see guest/build.ts); it
 * exports run(n), which returns the count.
 */

enum {
  OP_LI,   /* r[a] = b */
  OP_ADDI, /* r[a] = r[b] + c */
  OP_MUL,  /* r[a] = r[b] * r[c] */
  OP_REM,  /* r[a] = r[b] % r[c] */
  OP_JGE,  /* if r[a] >= r[b] goto c */
  OP_JGT,  /* if r[a] > r[b] goto c */
  OP_JZ,   /* if r[a] == 0 goto b */
  OP_JMP,  /* goto a */
  OP_HALT, /* return r[a] */
};

/*
 * Four words an instruction: opcode, a, b, c. Not const, so that the
 * compiler cannot specialise the interpreter to the program.
 *
 *   r0 = n, r1 = count, r2 = i, r3 = d
 *   for (i = 2; i < n; i++) {
 *     for (d = 2; d * d <= i; d++) if (i % d == 0) goto next;
 *     count++;
 *   next:;
 *   }
 */
static int program[] = {
    OP_LI,   1, 0, 0,  /* 0: count = 0 */
    OP_LI,   2, 2, 0,  /* 1: i = 2 */
    OP_JGE,  2, 0, 13, /* 2: if i >= n goto 13 */
    OP_LI,   3, 2, 0,  /* 3: d = 2 */
    OP_MUL,  4, 3, 3,  /* 4: t = d * d */
    OP_JGT,  4, 2, 10, /* 5: if t > i goto 10 (a prime) */
    OP_REM,  5, 2, 3,  /* 6: m = i % d */
    OP_JZ,   5, 11, 0, /* 7: if m == 0 goto 11 (not a prime) */
    OP_ADDI, 3, 3, 1,  /* 8: d++ */
    OP_JMP,  4, 0, 0,  /* 9: goto 4 */
    OP_ADDI, 1, 1, 1,  /* 10: count++ */
    OP_ADDI, 2, 2, 1,  /* 11: i++ */
    OP_JMP,  2, 0, 0,  /* 12: goto 2 */
    OP_HALT, 1, 0, 0,  /* 13: return count */
};

__attribute__((export_name("run"))) int run(int n) {
  int r[8] = {n};
  const int *pc = program;
  for (;;) {
    switch (pc[0]) {
    case OP_LI:
      r[pc[1]] = pc[2];
      break;
    case OP_ADDI:
      r[pc[1]] = r[pc[2]] + pc[3];
      break;
    case OP_MUL:
      r[pc[1]] = r[pc[2]] * r[pc[3]];
      break;
    case OP_REM:
      r[pc[1]] = r[pc[2]] % r[pc[3]];
      break;
    case OP_JGE:
      if (r[pc[1]] >= r[pc[2]]) {
        pc = program + 4 * pc[3];
        continue;
      }
      break;
    case OP_JGT:
      if (r[pc[1]] > r[pc[2]]) {
        pc = program + 4 * pc[3];
        continue;
      }
      break;
    case OP_JZ:
      if (r[pc[1]] == 0) {
        pc = program + 4 * pc[2];
        continue;
      }
      break;
    case OP_JMP:
      pc = program + 4 * pc[1];
      continue;
    case OP_HALT:
      return r[pc[1]];
    default:
      return -1;
    }
    pc += 4;
  }
}
