/*
 * Unit tests of credential loading: the file's permissions, its syntax,
 * the order of precedence, the refusal of mixed UpCloud credentials,
 * upctl.yaml, and the refusals that name what is missing.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "check.h"
#include "provider.h"

/* XDG_CONFIG_HOME, holding the credentials file too */
static char dir[] = "/tmp/cloudfs-test-auth-XXXXXX";
static char path[64];
static char upctl[64];
static char tools_dir[64];
static char tools[96];

static void remove_dir(void)
{
	unlink(path);
	unlink(upctl);
	unlink(tools);
	rmdir(tools_dir);
	rmdir(dir);
}

static void write_to(const char *file, const char *text, mode_t mode)
{
	FILE *f = fopen(file, "w");

	CHECK(f);
	fputs(text, f);
	fclose(f);
	CHECK(chmod(file, mode) == 0);
}

static void write_file(const char *text, mode_t mode)
{
	write_to(path, text, mode);
}

static int load(const char *provider, const char *file, char *err,
		struct cfs_auth *a)
{
	const struct cfs_provider *p = cfs_provider_find(provider);

	CHECK(p);
	return cfs_auth_load(a, p->load_credentials, file, err, 256);
}

static void unset_all(void)
{
	static const char *const names[] = {
		"CLEVER_API_TOKEN",	  "CLEVER_TOKEN",
		"CLEVER_SECRET",	  "CLEVER_CONSUMER_KEY",
		"CLEVER_CONSUMER_SECRET", "UPCLOUD_TOKEN",
		"UPCLOUD_USERNAME",	  "UPCLOUD_PASSWORD",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
}

static void test_credentials_file(void)
{
	struct cfs_auth a;
	char err[256];

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
		   "CLEVER_TOKEN=t\nCLEVER_SECRET=ts\n",
		   0600);
	CHECK(load("clever", path, err, &a) == 0);
	CHECK(a.kind == CFS_AUTH_OAUTH1);
	CHECK_STR(a.consumer_key, "ck");
	CHECK_STR(a.token_secret, "ts");
	cfs_auth_free(&a);

	write_file("not a pair\n", 0600);
	CHECK(load("clever", path, err, &a) != 0);
	CHECK(strstr(err, "line 1") != NULL);

	write_file("UPCLOUD_TOKEN=ucat_x\nUPCLOUD_USERNAME=u\n"
		   "UPCLOUD_PASSWORD=p\n",
		   0600);
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
}

/* Loading from the environment is refused, for exactly this reason. */
static void check_refusal(const char *provider, const char *reason)
{
	struct cfs_auth a;
	char err[256];

	CHECK(load(provider, NULL, err, &a) != 0);
	CHECK_STR(err, reason);
}

static void write_upctl(const char *text)
{
	write_to(upctl, text, 0600);
}

static void test_upctl_yaml(void)
{
	struct cfs_auth a;
	char err[256];

	write_upctl("# upctl's\ntoken: \"ucat_yaml\"   # a comment\n");
	CHECK(load("upcloud", NULL, err, &a) == 0);
	CHECK(a.kind == CFS_AUTH_BEARER);
	CHECK_STR(a.token, "ucat_yaml");
	cfs_auth_free(&a);

	/* quotes keep what would be a comment; other keys do not matter */
	write_upctl("output: json\nservers:\n  - a\nusername: 'me too'\n"
		    "password: \"p #1: x\"\ntoken: ~\n");
	CHECK(load("upcloud", NULL, err, &a) == 0);
	CHECK(a.kind == CFS_AUTH_BASIC);
	CHECK_STR(a.username, "me too");
	CHECK_STR(a.password, "p #1: x");
	cfs_auth_free(&a);

	write_upctl("username: plain\npassword: secret # not the password\n");
	CHECK(load("upcloud", NULL, err, &a) == 0);
	CHECK_STR(a.password, "secret");
	cfs_auth_free(&a);

	write_upctl("token: ucat_yaml\nusername: u\npassword: p\n");
	CHECK(load("upcloud", NULL, err, &a) != 0);
	CHECK(strstr(err, "keep one") != NULL);
	CHECK(strstr(err, upctl) != NULL);

	write_upctl("username: u\n");
	CHECK(load("upcloud", NULL, err, &a) != 0);
	CHECK(strstr(err, "but not password") != NULL);

	write_upctl("username: \"u\n");
	CHECK(load("upcloud", NULL, err, &a) != 0);
	CHECK(strstr(err, upctl) != NULL && strstr(err, "line ") != NULL);

	write_upctl("- token\n");
	CHECK(load("upcloud", NULL, err, &a) != 0);
	CHECK(strstr(err, "mapping") != NULL);

	/* the environment comes first */
	write_upctl("token: ucat_yaml\n");
	setenv("UPCLOUD_TOKEN", "ucat_env", 1);
	CHECK(load("upcloud", NULL, err, &a) == 0);
	CHECK_STR(a.token, "ucat_env");
	cfs_auth_free(&a);
	unsetenv("UPCLOUD_TOKEN");

	/* with a credentials file, only the file */
	write_file("# nothing for UpCloud\n", 0600);
	CHECK(load("upcloud", path, err, &a) != 0);
	CHECK(strstr(err, "no UpCloud credentials") != NULL);

	write_to(upctl, "token: ucat_yaml\n", 0644);
	CHECK(load("upcloud", NULL, err, &a) != 0);
	CHECK(strstr(err, "group or others") != NULL);
	CHECK(strstr(err, "chmod 600") != NULL);

	write_upctl("");
	CHECK(load("upcloud", NULL, err, &a) != 0);
	CHECK(strstr(err, "no UpCloud credentials") != NULL);

	unlink(upctl);
	check_refusal("upcloud", "no UpCloud credentials: set UPCLOUD_TOKEN, "
				 "or UPCLOUD_USERNAME and UPCLOUD_PASSWORD");

	setenv("UPCLOUD_PASSWORD", "p", 1);
	check_refusal("upcloud", "UPCLOUD_PASSWORD is set, but not "
				 "UPCLOUD_USERNAME");
	unsetenv("UPCLOUD_PASSWORD");
}

static void test_clever_says_what_is_missing(void)
{
	struct cfs_auth a;
	char err[256];

	CHECK(load("clever", NULL, err, &a) != 0);
	CHECK(strstr(err, "no Clever Cloud credentials") != NULL);

	/* what clever-tools' CI recipes set */
	setenv("CLEVER_TOKEN", "t", 1);
	setenv("CLEVER_SECRET", "ts", 1);
	check_refusal("clever",
		      "no Clever Cloud OAuth consumer: set "
		      "CLEVER_CONSUMER_KEY and CLEVER_CONSUMER_SECRET, or use "
		      "CLEVER_API_TOKEN instead");
	setenv("CLEVER_CONSUMER_KEY", "ck", 1);
	check_refusal("clever",
		      "no Clever Cloud OAuth consumer: set "
		      "CLEVER_CONSUMER_SECRET, or use CLEVER_API_TOKEN "
		      "instead");
	unsetenv("CLEVER_SECRET");
	check_refusal("clever",
		      "incomplete Clever Cloud OAuth credentials: "
		      "set CLEVER_SECRET and CLEVER_CONSUMER_SECRET, or use "
		      "CLEVER_API_TOKEN instead");
	setenv("CLEVER_CONSUMER_SECRET", "cs", 1);
	check_refusal("clever", "no Clever Cloud OAuth token: set "
				"CLEVER_SECRET, or run `clever login`");

	/* `clever login` gives the token pair, not the consumer pair */
	unset_all();
	write_to(tools, "{\"token\": \"t\", \"secret\": \"ts\"}", 0600);
	CHECK(load("clever", NULL, err, &a) != 0);
	CHECK(strstr(err,
		     "no Clever Cloud OAuth consumer for the token of ") !=
	      NULL);
	CHECK(strstr(err, tools) != NULL);
	CHECK(strstr(err, "CLEVER_API_TOKEN instead") != NULL);

	setenv("CLEVER_CONSUMER_KEY", "ck", 1);
	setenv("CLEVER_CONSUMER_SECRET", "cs", 1);
	CHECK(load("clever", NULL, err, &a) == 0);
	CHECK(a.kind == CFS_AUTH_OAUTH1);
	CHECK_STR(a.token, "t");
	cfs_auth_free(&a);
	unset_all();
	unlink(tools);
}

int main(void)
{
	CHECK(mkdtemp(dir));
	atexit(remove_dir);
	snprintf(path, sizeof(path), "%s/creds.env", dir);
	snprintf(upctl, sizeof(upctl), "%s/upctl.yaml", dir);
	snprintf(tools_dir, sizeof(tools_dir), "%s/clever-cloud", dir);
	snprintf(tools, sizeof(tools), "%s/clever-tools.json", tools_dir);
	CHECK(mkdir(tools_dir, 0700) == 0);
	setenv("XDG_CONFIG_HOME", dir, 1);
	unset_all();

	test_credentials_file();
	test_upctl_yaml();
	test_clever_says_what_is_missing();
	return 0;
}
