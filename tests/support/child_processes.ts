/**
 * This process's children, as procps' `ps` lists them (Linux), less the
 * `ps` itself: each with whether it is a zombie (exited, not yet reaped).
 */
export async function childProcesses(): Promise<
  { pid: number; zombie: boolean }[]
> {
  const ps = new Deno.Command("ps", {
    args: ["-o", "pid=,stat=", "--ppid", String(Deno.pid)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { stdout } = await ps.output();
  return new TextDecoder().decode(stdout).split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid]) => pid !== undefined && pid !== "")
    .map(([pid, stat]) => ({
      pid: Number(pid),
      zombie: stat?.startsWith("Z") ?? false,
    }))
    .filter(({ pid }) => pid !== ps.pid);
}
