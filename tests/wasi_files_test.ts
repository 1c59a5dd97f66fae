import assert from "./support/assert.ts";
import { makeFifo } from "./support/fifo.ts";
import { runWasi } from "../mod.ts";
import { ERRNO } from "../src/wasi/wasi_abi.ts";
import { GuestFiles } from "../src/wasi/wasi_files.ts";
import { text, wasiGuest } from "./support/wasi_guests.ts";

async function withDirs(
  test: (readOnly: string, readWrite: string) => Promise<void>,
): Promise<void> {
  const readOnly = await Deno.makeTempDir();
  const readWrite = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${readOnly}/in.txt`, "in a read-only dir\n");
    await test(readOnly, readWrite);
  } finally {
    await Deno.remove(readOnly, { recursive: true });
    await Deno.remove(readWrite, { recursive: true });
  }
}

Deno.test("copy: a file from a read-only preopen to a read-write one", () =>
  withDirs(async (readOnly, readWrite) => {
    const result = await runWasi(wasiGuest("copy"), {
      args: ["/in/in.txt", "/out/copy.txt"],
      preopens: [
        { host: readOnly, guest: "/in", mode: "read-only" },
        { host: readWrite, guest: "/out" },
      ],
      stderr: "capture",
    });
    assert.equal(result.outcome, "exited");
    if (result.outcome === "exited") assert.equal(result.code, 0);
    assert.equal(text(result.stderr), "copied 19 bytes\n");
    assert.equal(
      await Deno.readTextFile(`${readWrite}/copy.txt`),
      "in a read-only dir\n",
    );
  }));

Deno.test("a read-only preopen refuses writes with EROFS", () =>
  withDirs(async (readOnly) => {
    const result = await runWasi(wasiGuest("copy"), {
      args: ["/in/in.txt", "/in/copy.txt"],
      preopens: [{ host: readOnly, guest: "/in", mode: "read-only" }],
      stderr: "capture",
    });
    assert.equal(result.outcome, "exited");
    if (result.outcome === "exited") assert.equal(result.code, 1);
    assert.match(text(result.stderr), /\/in\/copy\.txt: Read-only file system/);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(readOnly))).map((e) => e.name),
      ["in.txt"],
    );
  }));

/** How many descriptors this process has open, as `ls` sees them. */
function openDescriptors(): number {
  // Deno needs every permission to read /proc/self; a child needs none.
  const { stdout } = new Deno.Command("ls", { args: [`/proc/${Deno.pid}/fd`] })
    .outputSync();
  return new TextDecoder().decode(stdout).trim().split("\n").length;
}

Deno.test({
  name: "a stopped guest's files and preopens are closed",
  ignore: Deno.build.os !== "linux",
  fn: () =>
    withDirs(async (readOnly) => {
      await Deno.writeFile(`${readOnly}/big.bin`, new Uint8Array(1 << 20));
      const run = () =>
        runWasi(wasiGuest("copy"), {
          args: ["/in/big.bin", "-"],
          preopens: [{ host: readOnly, guest: "/in", mode: "read-only" }],
          fuel: 200_000,
          stdout: "ignore",
          stderr: "ignore",
        });
      assert.equal((await run()).outcome, "fuel_exhausted");
      openDescriptors();
      const before = openDescriptors();
      for (let i = 0; i < 20; i++) {
        assert.equal((await run()).outcome, "fuel_exhausted");
      }
      // Left open, each run keeps at least one: 20 or more.
      // The process's own count moves by a few as it works.
      const leaked = openDescriptors() - before;
      assert.ok(leaked < 10, `${leaked} more descriptors open`);
    }),
});

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * Runs `copy.wasm FROM TO` through the CLI in a child process with `dir`
 * as `/data`. Were a FIFO opened, `node:wasi` would wait in `open()` for a
 * writer that never comes, holding the child's thread where its own
 * deadline cannot reach: the guard kills it, and the test fails rather than
 * hangs.
 */
async function copyInChild(dir: string, from: string, to: string) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read",
      `--allow-write=${dir}`,
      MAIN,
      "--timeout",
      "30000",
      "--dir",
      `${dir}::/data`,
      wasiGuest("copy").pathname,
      "--",
      from,
      to,
    ],
    stdin: "null",
    signal: AbortSignal.timeout(90_000),
  }).output();
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

Deno.test({
  name:
    "a FIFO inside a preopen is refused with ENOTSUP, named, through a symlink, below a directory, to read or to write",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withDirs(async (_readOnly, dir) => {
      await Deno.mkdir(`${dir}/sub`);
      await makeFifo(`${dir}/sub/fifo`);
      await Deno.symlink("sub/fifo", `${dir}/link`);
      await Deno.writeTextFile(`${dir}/in.txt`, "regular\n");
      for (
        const [from, to, refused] of [
          ["/data/sub/fifo", "-", "/data/sub/fifo"],
          ["/data/link", "-", "/data/link"],
          ["/data/in.txt", "/data/sub/fifo", "/data/sub/fifo"],
        ]
      ) {
        const result = await copyInChild(dir, from, to);
        assert.equal(result.stderr, `${refused}: Not supported\n`);
        assert.equal(result.code, 1, `${from} -> ${to}`);
      }
      // Regular files beside it are copied as before.
      const file = await copyInChild(dir, "/data/in.txt", "-");
      assert.equal(file.stdout, "regular\n");
      assert.equal(file.code, 0);
    }),
});

Deno.test({
  name:
    "a FIFO is refused below a directory the guest opened, and after the directory is renumbered",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withDirs(async (_readOnly, dir) => {
      await Deno.mkdir(`${dir}/sub`);
      await makeFifo(`${dir}/sub/fifo`);
      await Deno.writeTextFile(`${dir}/sub/in.txt`, "below\n");
      const memory = new WebAssembly.Memory({ initial: 1 });
      const bytes = new Uint8Array(memory.buffer);
      const opened: string[] = [];
      let nextFd = 10;
      // node:wasi's part: it records what it was asked to open.
      const wasi = {
        path_open: (
          _dir: number,
          _flags: number,
          path: number,
          length: number,
          ..._rest: unknown[]
        ) => {
          opened.push(text(bytes.slice(path, path + length)));
          new DataView(memory.buffer).setUint32(64, nextFd++, true);
          return ERRNO.SUCCESS;
        },
        fd_renumber: () => ERRNO.SUCCESS,
        fd_close: () => ERRNO.SUCCESS,
        // A regular file's filestat: its filetype at 16.
        fd_filestat_get: (_fd: number, at: number) => {
          bytes[at + 16] = 4;
          return ERRNO.SUCCESS;
        },
      };
      const files = new GuestFiles(wasi, () => memory, [
        { host: dir, readOnly: false },
      ]).functions();
      const open = (fd: number, path: string) => {
        bytes.set(new TextEncoder().encode(path), 128);
        return files.path_open(fd, 1, 128, path.length, 0, 2n, 0n, 0, 64);
      };
      assert.equal(open(3, "sub"), ERRNO.SUCCESS);
      assert.equal(open(10, "fifo"), ERRNO.NOTSUP);
      assert.equal(open(10, "in.txt"), ERRNO.SUCCESS);
      // Renumbered onto the file's descriptor, which must be open.
      assert.equal(files.fd_renumber(10, 20), ERRNO.BADF);
      assert.equal(files.fd_renumber(10, 11), ERRNO.SUCCESS);
      assert.equal(open(11, "fifo"), ERRNO.NOTSUP);
      // A path that leads out of the preopen is refused, as node:wasi
      // refuses it, whatever is there.
      assert.equal(open(3, "../../x"), ERRNO.NOTCAPABLE);
      // A path past the end of memory is node:wasi's to refuse too.
      assert.equal(
        files.path_open(3, 1, 65_530, 100, 0, 2n, 0n, 0, 64),
        ERRNO.SUCCESS,
      );
      assert.equal(opened.length, 3);
      assert.deepEqual(opened.slice(0, 2), ["sub", "in.txt"]);
    }),
});

/** The WASI filetype of what `path` leads to, links followed, as `fstat` of an open of it gives. */
function filetypeAt(path: string): number {
  const info = Deno.statSync(path);
  if (info.isFile) return 4;
  if (info.isDirectory) return 3;
  if (info.isCharDevice) return 2;
  if (info.isBlockDevice) return 1;
  return 0;
}

Deno.test({
  name:
    "what another process puts at a path between path_open's check and node:wasi's open is checked again: a link out of the preopen, a FIFO, a device swapped in and out are refused with the descriptor closed; another regular file is opened",
  ignore: Deno.build.os === "windows",
  fn: () =>
    withDirs(async (outside, dir) => {
      await Deno.writeTextFile(`${outside}/secret`, "outside\n");
      const swaps: [string, () => void, number, number][] = [
        // [what the other process does, then what path_open answers,
        // following links and not]
        [
          "a link out",
          () => {
            Deno.removeSync(`${dir}/f`);
            Deno.symlinkSync(`${outside}/secret`, `${dir}/f`);
          },
          ERRNO.NOTCAPABLE,
          ERRNO.LOOP,
        ],
        [
          "a FIFO",
          () => {
            Deno.removeSync(`${dir}/f`);
            const made = new Deno.Command("mkfifo", { args: [`${dir}/f`] })
              .outputSync();
            assert.ok(made.success);
          },
          ERRNO.NOTSUP,
          ERRNO.NOTSUP,
        ],
        [
          "another file",
          () => {
            Deno.removeSync(`${dir}/f`);
            Deno.writeTextFileSync(`${dir}/f`, "another\n");
          },
          ERRNO.SUCCESS,
          ERRNO.SUCCESS,
        ],
      ];
      const memory = new WebAssembly.Memory({ initial: 1 });
      const bytes = new Uint8Array(memory.buffer);
      let swap = () => {};
      let openedAt = "";
      const closed: number[] = [];
      // node:wasi's part: another process acts in the gap, then it opens
      // what is at the path, following links, as node:wasi does.
      const wasi = {
        path_open: (..._args: unknown[]) => {
          swap();
          openedAt = `${dir}/f`;
          new DataView(memory.buffer).setUint32(64, 10, true);
          return ERRNO.SUCCESS;
        },
        fd_filestat_get: (_fd: number, at: number) => {
          bytes[at + 16] = filetypeAt(openedAt);
          return ERRNO.SUCCESS;
        },
        fd_close: (fd: number) => (closed.push(fd), ERRNO.SUCCESS),
      };
      const files = new GuestFiles(wasi, () => memory, [
        { host: dir, readOnly: false },
      ]).functions();
      bytes[128] = 0x66; // "f"
      Deno.writeTextFileSync(`${dir}/f`, "the file checked\n");
      for (const [what, act, following, notFollowing] of swaps) {
        for (
          const [dirflags, expected] of [[1, following], [0, notFollowing]]
        ) {
          Deno.removeSync(`${dir}/f`);
          Deno.writeTextFileSync(`${dir}/f`, "the file checked\n");
          swap = act;
          closed.length = 0;
          const errno = files.path_open(3, dirflags, 128, 1, 0, 2n, 0n, 0, 64);
          assert.equal(errno, expected, `${what}, dirflags ${dirflags}`);
          assert.deepEqual(
            closed,
            expected === ERRNO.SUCCESS ? [] : [10],
            `${what}: a refused descriptor is closed`,
          );
          if (expected === ERRNO.SUCCESS) files.fd_close(10);
        }
      }
      // Swapped in for the open and back out before the second look: the
      // path shows the file again, but the descriptor is a device.
      const open = wasi.path_open;
      swap = () => {
        Deno.renameSync(`${dir}/f`, `${dir}/aside`);
        Deno.symlinkSync("/dev/null", `${dir}/f`);
      };
      wasi.path_open = (...args: unknown[]) => {
        const errno = open(...args);
        // The descriptor's filetype is the device's; then the swap back.
        bytes.fill(0, 0, 64);
        wasi.fd_filestat_get(10, 0);
        const type = bytes[16];
        wasi.fd_filestat_get = (_fd: number, at: number) => {
          bytes[at + 16] = type;
          return ERRNO.SUCCESS;
        };
        Deno.removeSync(`${dir}/f`);
        Deno.renameSync(`${dir}/aside`, `${dir}/f`);
        return errno;
      };
      closed.length = 0;
      assert.equal(
        files.path_open(3, 1, 128, 1, 0, 2n, 0n, 0, 64),
        ERRNO.NOTSUP,
      );
      assert.deepEqual(closed, [10]);
    }),
});
