#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The broken-build sweep: every assertion must be able to fail on wrong behaviour.

For each row of mutants.tsv this breaks one behaviour in a private copy of the source tree
(the text must occur exactly once in its file), rebuilds, and runs the tests the row names:
they must fail ("killed"). A mutant they pass ("SURVIVED") is a check that cannot fail; a
row whose text is gone ("STALE") or whose mutant does not compile is an error of the table.

    tests/mutants/run.py SRC_DIR [ROW_NUMBER...]     (rows counted from 1; default all)

Exit status 0 when every mutant was killed. Only the copy in a temporary directory is touched.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time


def rows(src):
    out = []
    with open(os.path.join(src, "tests", "mutants", "mutants.tsv")) as f:
        for n, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 5:
                sys.exit("mutants.tsv:%d: %d columns, want 5 (file, text, replacement, tests, what)" % (n, len(cols)))
            out.append(cols)
    return out


def run(cmd, cwd, log, timeout=None):
    with open(log, "ab") as f:
        f.write(("$ %s\n" % " ".join(cmd)).encode())
        f.flush()
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return 124


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    src = os.path.abspath(sys.argv[1])
    table = rows(src)
    pick = [int(a) for a in sys.argv[2:]] or list(range(1, len(table) + 1))
    for p in pick:
        if not 1 <= p <= len(table):
            sys.exit("no row %d: mutants.tsv has %d" % (p, len(table)))
    jobs = str(os.cpu_count() or 2)
    work = tempfile.mkdtemp(prefix="v12-mutants.")
    os.chmod(work, 0o755)  # ours; some tests run the daemon as nobody, who must reach the binaries
    tree, build, log = os.path.join(work, "src"), os.path.join(work, "build"), os.path.join(work, "log")
    try:
        files = subprocess.run(["git", "-C", src, "ls-files", "-co", "--exclude-standard", "-z"], check=True,
                               capture_output=True).stdout.split(b"\0")
        for name in filter(None, (f.decode() for f in files)):
            if not os.path.isfile(os.path.join(src, name)):
                continue  # deleted in the work tree, not yet in the index
            os.makedirs(os.path.dirname(os.path.join(tree, name)) or tree, exist_ok=True)
            shutil.copy2(os.path.join(src, name), os.path.join(tree, name))
        print("mutants: building a private copy in %s" % work, flush=True)
        if run(["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], work, log) or \
                run(["cmake", "--build", build, "-j", jobs], work, log):
            sys.exit("mutants: the unmutated copy does not build (see %s)" % log)
        # The tests must pass before anything is broken, or a "kill" proves nothing.
        for tests in sorted({table[p - 1][3] for p in pick}):
            if run(["ctest", "--test-dir", build, "-R", tests, "--no-tests=error", "--timeout", "900",
                    "--output-on-failure"], work, log):
                with open(log, errors="replace") as f:
                    print("".join(f.readlines()[-60:]))
                sys.exit("mutants: %s fails on the unmutated copy; nothing to measure" % tests)
        print("mutants: the tests pass on the unmutated copy", flush=True)
        bad = 0
        for p in pick:
            path, text, repl, tests, what = table[p - 1]
            full = os.path.join(tree, path)
            with open(full) as f:
                orig = f.read()
            t0 = time.time()
            if orig.count(text) != 1:
                verdict = "STALE: the text occurs %d times in %s" % (orig.count(text), path)
            else:
                with open(full, "w") as f:
                    f.write(orig.replace(text, repl))
                if run(["cmake", "--build", build, "-j", jobs], work, log):
                    verdict = "DOES NOT COMPILE"
                else:
                    rc = run(["ctest", "--test-dir", build, "-R", tests, "--no-tests=error", "--timeout", "900"],
                             work, log)
                    verdict = "killed" if rc else "SURVIVED"
                with open(full, "w") as f:
                    f.write(orig)
            if verdict != "killed":
                bad += 1
            print("mutant %2d %-9s %-26s by %-24s %5.0f s  %s" % (p, verdict.split(":")[0], path.split("/")[-1], tests,
                                                                time.time() - t0, what), flush=True)
            if verdict.startswith("STALE"):
                print("          " + verdict)
        print("mutants: %d of %d killed" % (len(pick) - bad, len(pick)))
        if bad:  # the copy goes away: what the builds and tests said, last part
            with open(log, errors="replace") as f:
                print("mutants: the end of the build and test output:\n" + "".join(f.readlines()[-80:]))
        return 1 if bad else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
