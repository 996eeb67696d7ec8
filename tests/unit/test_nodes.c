/*
 * Unit tests of the node store: contents in LRU order under a byte cap,
 * facts kept across trims and flushes, the mtime rules, the state file
 * (round trip, corrupt file) and inode numbers.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "diskcache.h"
#include "nodes.h"

#define API "http://127.0.0.1:1"
#define STATE "nodes-test.json"

static char dir[] = "/tmp/cfs-test-nodes-XXXXXX";

/* Keeps bytes as path's content for version; its mtime. */
static time_t keep(struct cfs_nodes *n, const char *path, uint64_t version,
		   const char *bytes)
{
	struct cfs_blob *b = cfs_blob_new(bytes, strlen(bytes));
	time_t mtime = 0;

	CHECK(b);
	CHECK(cfs_nodes_keep(n, path, version, b, &mtime) == 0);
	cfs_blob_unref(b);
	return mtime;
}

static size_t bytes_held(struct cfs_nodes *n)
{
	size_t bytes;
	size_t facts;

	cfs_nodes_usage(n, &bytes, &facts);
	return bytes;
}

static size_t facts_kept(struct cfs_nodes *n)
{
	size_t bytes;
	size_t facts;

	cfs_nodes_usage(n, &bytes, &facts);
	return facts;
}

static int held(struct cfs_nodes *n, const char *path, uint64_t version)
{
	struct cfs_blob *b = NULL;
	time_t mtime;
	int rc = cfs_nodes_content(n, path, version, &b, &mtime);

	cfs_blob_unref(b);
	return rc == 0;
}

static void test_lru_and_cap(void)
{
	struct cfs_nodes *n = cfs_nodes_new(30, NULL, STATE);

	CHECK(n);
	keep(n, "a", 1, "0123456789");
	keep(n, "b", 1, "0123456789");
	keep(n, "c", 1, "0123456789");
	CHECK(bytes_held(n) == 30);
	CHECK(held(n, "a", 1) && !held(n, "a", 2));
	/* b is now the least recently used: d pushes it out, not a */
	keep(n, "d", 1, "0123456789");
	CHECK(bytes_held(n) == 30);
	CHECK(!held(n, "b", 1));
	CHECK(held(n, "a", 1) && held(n, "c", 1) && held(n, "d", 1));
	/* a new version replaces the old bytes, it does not add to them */
	keep(n, "a", 2, "01234");
	CHECK(bytes_held(n) == 25);
	CHECK(held(n, "a", 2) && !held(n, "a", 1));
	/* bigger than the whole cap: served, never held */
	keep(n, "e", 1, "0123456789012345678901234567890123456789");
	CHECK(!held(n, "e", 1));
	CHECK(bytes_held(n) <= 30);
	cfs_nodes_set_cap(n, 10);
	CHECK(bytes_held(n) <= 10);
	cfs_nodes_free(n);
}

static void test_facts_outlive_contents(void)
{
	struct cfs_nodes *n = cfs_nodes_new(10, NULL, STATE);
	time_t a;
	time_t b;

	CHECK(n);
	a = keep(n, "a", 1, "0123456789");
	b = keep(n, "b", 1, "0123456789");
	CHECK(!held(n, "a", 1));
	sleep(1);
	/* trimmed, then rendered again from a new response: same bytes */
	CHECK(keep(n, "a", 2, "0123456789") == a);
	cfs_nodes_flush(n, 1);
	CHECK(bytes_held(n) == 0);
	CHECK(!held(n, "a", 2));
	CHECK(keep(n, "b", 3, "0123456789") == b);
	/* the same epoch again drops nothing */
	cfs_nodes_flush(n, 1);
	CHECK(held(n, "b", 3));
	cfs_nodes_free(n);
}

static void test_mtime_rules(void)
{
	struct cfs_nodes *n = cfs_nodes_new(1 << 20, NULL, STATE);
	time_t first;
	time_t changed;
	time_t link;

	CHECK(n);
	first = keep(n, "f", 1, "one");
	CHECK(first >= time(NULL) - 1 && first <= time(NULL));
	CHECK(keep(n, "f", 2, "one") == first);
	/* changed within the same second: still later */
	changed = keep(n, "f", 3, "two");
	CHECK(changed > first);
	CHECK(keep(n, "f", 4, "one") > changed);
	link = cfs_nodes_mtime(n, "l", 42);
	CHECK(cfs_nodes_mtime(n, "l", 42) == link);
	CHECK(cfs_nodes_mtime(n, "l", 43) > link);
	/* a fingerprint not known yet keeps the fact; the first known one
	 * is taken as it is */
	link = cfs_nodes_mtime(n, "d", CFS_NODES_UNKNOWN);
	sleep(1);
	CHECK(cfs_nodes_mtime(n, "d", CFS_NODES_UNKNOWN) == link);
	CHECK(cfs_nodes_mtime(n, "d", 7) == link);
	CHECK(cfs_nodes_mtime(n, "d", CFS_NODES_UNKNOWN) == link);
	CHECK(cfs_nodes_mtime(n, "d", 8) > link);
	cfs_nodes_free(n);
}

static void test_fact_cap(void)
{
	struct cfs_nodes *n = cfs_nodes_new(1 << 20, NULL, STATE);
	char path[32];
	time_t first;
	unsigned int i;

	CHECK(n);
	first = cfs_nodes_mtime(n, "first", 1);
	for (i = 0; i < CFS_NODES_MAX_FACTS; i++) {
		snprintf(path, sizeof(path), "p%u", i);
		cfs_nodes_mtime(n, path, 1);
		if (i == CFS_NODES_MAX_FACTS / 2)
			CHECK(cfs_nodes_mtime(n, "first", 1) == first);
	}
	/* "first" was used half way: p0 went first, and "first" stays */
	CHECK(facts_kept(n) == CFS_NODES_MAX_FACTS);
	CHECK(cfs_nodes_mtime(n, "first", 1) == first);
	sleep(1);
	CHECK(cfs_nodes_mtime(n, "p0", 1) > first);
	cfs_nodes_free(n);
}

/* Where the diskcache of API keeps name. */
static char *host_path(const char *name)
{
	char *file;

	CHECK(asprintf(&file, "%s/127.0.0.1_1/%s", dir, name) > 0);
	return file;
}

static void write_state(const char *text)
{
	char *file = host_path(STATE);
	FILE *f = fopen(file, "w");

	CHECK(f);
	fputs(text, f);
	fclose(f);
	free(file);
}

static void test_save_and_load(void)
{
	struct cfs_diskcache *d = cfs_diskcache_open(dir, API);
	struct cfs_nodes *n = cfs_nodes_new(1 << 20, d, STATE);
	time_t file;
	time_t link;

	CHECK(d && n);
	file = keep(n, "orgs/a/app.json", 1, "{}\n");
	link = cfs_nodes_mtime(n, "orgs/by-name/x", 5);
	cfs_nodes_free(n);
	sleep(1);
	n = cfs_nodes_new(1 << 20, d, STATE);
	CHECK(n);
	CHECK(!held(n, "orgs/a/app.json", 1));
	CHECK(keep(n, "orgs/a/app.json", 1, "{}\n") == file);
	CHECK(cfs_nodes_mtime(n, "orgs/by-name/x", 5) == link);
	CHECK(cfs_nodes_mtime(n, "orgs/by-name/y", 5) > link);
	cfs_nodes_free(n);
	/* mtimes from the file are kept, even one ahead of the clock */
	write_state("{\"format\": 1, \"facts\": ["
		    "[\"past\", \"00000000000000aa\", 1000],"
		    "[\"future\", \"00000000000000bb\", 4000000000],"
		    "[\"bad\", 17, 1000], [\"short\", \"aa\", 1000]]}");
	n = cfs_nodes_new(1 << 20, d, STATE);
	CHECK(n);
	CHECK(cfs_nodes_mtime(n, "past", 0xaa) == 1000);
	CHECK(cfs_nodes_mtime(n, "past", 0xab) >= time(NULL) - 1);
	CHECK(cfs_nodes_mtime(n, "future", 0xbc) == 4000000001);
	CHECK(cfs_nodes_mtime(n, "bad", 1) >= time(NULL) - 1);
	CHECK(cfs_nodes_mtime(n, "short", 0xaa) >= time(NULL) - 1);
	cfs_nodes_free(n);
	cfs_diskcache_close(d);
}

static void test_corrupt_state(void)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"format\": 2, \"facts\": []}",
		"{\"format\": 1, \"facts\": {}}",
		"\x80\x81",
	};
	struct cfs_diskcache *d = cfs_diskcache_open(dir, API);
	struct cfs_nodes *n;
	time_t fresh = 0;
	size_t i;

	CHECK(d);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_state(bad[i]);
		n = cfs_nodes_new(1 << 20, d, STATE);
		CHECK(n);
		fresh = cfs_nodes_mtime(n, "past", 0xaa);
		CHECK(fresh >= time(NULL) - 1);
		cfs_nodes_free(n);
	}
	/* the file saved over the last one is a good one */
	n = cfs_nodes_new(1 << 20, d, STATE);
	CHECK(n);
	CHECK(cfs_nodes_mtime(n, "past", 0xaa) == fresh);
	cfs_nodes_free(n);
	cfs_diskcache_close(d);
}

static void test_ino(void)
{
	CHECK(cfs_nodes_ino("") == 1);
	CHECK(cfs_nodes_ino("self.json") == cfs_nodes_ino("self.json"));
	CHECK(cfs_nodes_ino("self.json") > 1);
	CHECK(cfs_nodes_ino("orgs") != cfs_nodes_ino("zones"));
}

static void remove_dir(void)
{
	char *file = host_path(STATE);
	char *host = host_path("");

	unlink(file);
	rmdir(host);
	rmdir(dir);
	free(file);
	free(host);
}

int main(void)
{
	CHECK(mkdtemp(dir));
	test_lru_and_cap();
	test_facts_outlive_contents();
	test_mtime_rules();
	test_fact_cap();
	test_save_and_load();
	test_corrupt_state();
	test_ino();
	remove_dir();
	return 0;
}
