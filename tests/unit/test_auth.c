/*
 * Unit tests of credential loading: the file's permissions, its syntax,
 * the order of precedence and the refusal of mixed UpCloud credentials.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "check.h"
#include "provider.h"

static char path[] = "/tmp/cloudfs-test-auth-XXXXXX";

static void write_file(const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK(f);
	fputs(text, f);
	fclose(f);
	CHECK(chmod(path, mode) == 0);
}

static int load(const char *provider, const char *file, char *err,
		struct cfs_auth *a)
{
	const struct cfs_provider *p = cfs_provider_find(provider);

	CHECK(p);
	return cfs_auth_load(a, p->load_credentials, file, err, 256);
}

int main(void)
{
	struct cfs_auth a;
	char err[256];
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	unsetenv("CLEVER_API_TOKEN");
	unsetenv("UPCLOUD_TOKEN");
	unsetenv("UPCLOUD_USERNAME");
	unsetenv("UPCLOUD_PASSWORD");

	write_file("CLEVER_API_TOKEN=tok\n", 0640);
	CHECK(load("clever", path, err, &a) != 0);
	CHECK(strstr(err, "group or others") != NULL);
	CHECK(strstr(err, "chmod 600") != NULL);

	/* a group that may write it may swap the credentials */
	write_file("CLEVER_API_TOKEN=tok\n", 0620);
	CHECK(load("clever", path, err, &a) != 0);
	CHECK(strstr(err, "group or others") != NULL);

	write_file("# comment\n\nexport CLEVER_API_TOKEN=\"tok en\"\n", 0600);
	CHECK(load("clever", path, err, &a) == 0);
	CHECK(a.kind == CFS_AUTH_BEARER);
	CHECK_STR(a.token, "tok en");
	cfs_auth_free(&a);

	write_file("CLEVER_CONSUMER_KEY=ck\nCLEVER_CONSUMER_SECRET=cs\n"
		   "CLEVER_TOKEN=t\nCLEVER_SECRET=ts\n", 0600);
	CHECK(load("clever", path, err, &a) == 0);
	CHECK(a.kind == CFS_AUTH_OAUTH1);
	CHECK_STR(a.consumer_key, "ck");
	CHECK_STR(a.token_secret, "ts");
	cfs_auth_free(&a);

	write_file("not a pair\n", 0600);
	CHECK(load("clever", path, err, &a) != 0);
	CHECK(strstr(err, "line 1") != NULL);

	write_file("UPCLOUD_TOKEN=ucat_x\nUPCLOUD_USERNAME=u\n"
		   "UPCLOUD_PASSWORD=p\n", 0600);
	CHECK(load("upcloud", path, err, &a) != 0);
	CHECK(strstr(err, "keep one") != NULL);

	write_file("UPCLOUD_USERNAME=u\nUPCLOUD_PASSWORD=p\n", 0600);
	CHECK(load("upcloud", path, err, &a) == 0);
	CHECK(a.kind == CFS_AUTH_BASIC);
	cfs_auth_free(&a);

	/* without a file the environment is read */
	setenv("UPCLOUD_TOKEN", "ucat_env", 1);
	CHECK(load("upcloud", NULL, err, &a) == 0);
	CHECK_STR(a.token, "ucat_env");
	cfs_auth_free(&a);
	unsetenv("UPCLOUD_TOKEN");

	unlink(path);
	return 0;
}
