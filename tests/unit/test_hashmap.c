/* Unit tests of the hash map: put, replace, remove, growth, filter. */
#include <stdint.h>

#include "check.h"
#include "hashmap.h"

static int drop_even(const char *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	return ((uintptr_t)value) % 2 == 0;
}

int main(void)
{
	struct cfs_hashmap *m = cfs_hashmap_new();
	void *old = NULL;
	char key[32];
	uintptr_t i;

	CHECK(m);
	CHECK(cfs_hashmap_get(m, "missing") == NULL);
	CHECK(cfs_hashmap_put(m, "a", (void *)1, &old) == 0 && old == NULL);
	CHECK(cfs_hashmap_put(m, "a", (void *)2, &old) == 0 &&
	      old == (void *)1);
	CHECK(cfs_hashmap_size(m) == 1);
	CHECK(cfs_hashmap_remove(m, "a") == (void *)2);
	CHECK(cfs_hashmap_size(m) == 0);
	for (i = 1; i <= 1000; i++) {
		snprintf(key, sizeof(key), "key-%lu", (unsigned long)i);
		CHECK(cfs_hashmap_put(m, key, (void *)i, NULL) == 0);
	}
	CHECK(cfs_hashmap_size(m) == 1000);
	for (i = 1; i <= 1000; i++) {
		snprintf(key, sizeof(key), "key-%lu", (unsigned long)i);
		CHECK(cfs_hashmap_get(m, key) == (void *)i);
	}
	cfs_hashmap_filter(m, drop_even, NULL);
	CHECK(cfs_hashmap_size(m) == 500);
	CHECK(cfs_hashmap_get(m, "key-2") == NULL);
	CHECK(cfs_hashmap_get(m, "key-3") == (void *)3);
	cfs_hashmap_free(m, NULL);
	return 0;
}
