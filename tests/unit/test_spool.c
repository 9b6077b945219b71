/* SPDX-License-Identifier: MIT */
/*
 * The spool's start-up scan: temporary files a killed daemon left are removed and reported; a
 * stored blob, a name that only looks temporary, a symbolic link, a FIFO, a directory and
 * anything outside the two levels stay where they are.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "spool.h"

static char dir[256];
static char seen[8][300];
static int nseen;

static void on_removed(void *userdata, enum v12_scan_event what, const char *rel, int error)
{
    CHECK(userdata == &nseen);
    CHECK_EQ(what, V12_SCAN_REMOVED);
    CHECK_EQ(error, 0);
    CHECK(nseen < 8);
    snprintf(seen[nseen++], sizeof(seen[0]), "%s", rel);
}

static void put(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    CHECK(f);
    fputs(content, f);
    fclose(f);
}

static bool exists(const char *rel)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return lstat(p, &st) == 0;
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/v12spool.XXXXXX");
    CHECK(mkdtemp(dir));
    bool dup;
    char rel[256];
    static const uint8_t data[] = "stored blob bytes";
    CHECK_OK(v12_spool_store(dir, "mig-1", "vm-a", 0, 1, data, sizeof(data), &dup, rel, sizeof(rel)));
    CHECK_OK(v12_spool_store(dir, "mig-1", "vm-a", 1, 1, data, sizeof(data), &dup, rel, sizeof(rel)));
    CHECK_OK(v12_spool_store(dir, "mig-2", "vm-b", 0, 7, data, sizeof(data), &dup, rel, sizeof(rel)));

    /* Nothing to do on a clean spool. */
    struct v12_spool_scan st;
    CHECK_EQ(v12_spool_scan(dir, on_removed, &nseen, &st), 0);
    CHECK_EQ(st.removed, 0);
    CHECK_EQ(st.blobs, 3);
    CHECK_EQ(nseen, 0);

    /* What a store cut short leaves: a half-written temporary file, in two directories. */
    put("mig-1/vm-a/.tmp-Ab3dEf", "half a blo");
    put("mig-2/vm-b/.tmp-000000", "");
    /* Not ours to remove. */
    put("mig-1/vm-a/.tmp-short", "x");
    put("mig-1/vm-a/.tmp-Ab3dEf.keep", "x");
    put(".tmp-toplvl", "x");
    put("mig-1/.tmp-XYZabc", "x");
    char p[512], q[512];
    snprintf(p, sizeof(p), "%s/outside", dir);
    put("outside", "a file the link points to");
    snprintf(q, sizeof(q), "%s/mig-1/vm-a/.tmp-linked", dir);
    CHECK_OK(symlink(p, q));
    snprintf(q, sizeof(q), "%s/mig-2/vm-b/.tmp-fifo00", dir);
    CHECK_OK(mkfifo(q, 0600));
    snprintf(q, sizeof(q), "%s/mig-2/vm-b/.tmp-dir000", dir);
    CHECK_OK(mkdir(q, 0700));
    /* Links to directories at either level are not followed (and are no error). */
    snprintf(p, sizeof(p), "%s/mig-2", dir);
    snprintf(q, sizeof(q), "%s/mig-link", dir);
    CHECK_OK(symlink(p, q));
    snprintf(p, sizeof(p), "%s/mig-2/vm-b", dir);
    snprintf(q, sizeof(q), "%s/mig-1/vm-link", dir);
    CHECK_OK(symlink(p, q));

    CHECK_EQ(v12_spool_scan(dir, on_removed, &nseen, &st), 2);
    CHECK_EQ(st.removed, 2);
    CHECK_EQ(st.failed, 0);
    CHECK_EQ(st.unreadable, 0);
    CHECK_EQ(st.blobs, 3);
    CHECK_EQ(nseen, 2);
    bool a = strcmp(seen[0], "mig-1/vm-a/.tmp-Ab3dEf") == 0 || strcmp(seen[1], "mig-1/vm-a/.tmp-Ab3dEf") == 0;
    bool b = strcmp(seen[0], "mig-2/vm-b/.tmp-000000") == 0 || strcmp(seen[1], "mig-2/vm-b/.tmp-000000") == 0;
    CHECK(a && b);
    CHECK(!exists("mig-1/vm-a/.tmp-Ab3dEf") && !exists("mig-2/vm-b/.tmp-000000"));
    CHECK(exists("mig-1/vm-a/vcpu-0.seq-1.bin") && exists("mig-1/vm-a/vcpu-1.seq-1.bin") &&
          exists("mig-2/vm-b/vcpu-0.seq-7.bin"));
    CHECK(exists("mig-1/vm-a/.tmp-short") && exists("mig-1/vm-a/.tmp-Ab3dEf.keep") && exists(".tmp-toplvl") &&
          exists("mig-1/.tmp-XYZabc") && exists("outside") && exists("mig-1/vm-a/.tmp-linked") &&
          exists("mig-2/vm-b/.tmp-fifo00") && exists("mig-2/vm-b/.tmp-dir000"));

    /* The stored blobs are intact and still found. */
    uint8_t *got;
    size_t len;
    uint64_t seq;
    char mig[64];
    CHECK_OK(v12_spool_find(dir, "mig-2", "vm-b", 0, &got, &len, &seq, mig, sizeof(mig), rel, sizeof(rel)));
    CHECK_EQ(len, sizeof(data));
    CHECK_MEM(got, data, len);
    CHECK_EQ(seq, 7);
    free(got);

    /* A spool that cannot be read is an error, not an empty scan. */
    CHECK_EQ(v12_spool_scan("/nonexistent/v12/spool", on_removed, &nseen, &st), -ENOENT);

    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_OK(system(cmd));
    printf("spool scan: ok\n");
    return 0;
}
