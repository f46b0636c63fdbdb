/*
 * The floor of `make bench`: the least a program can do to apply a sysctl
 * file. It reads FILE, takes every `key = value` line (blanks around both
 * trimmed, `#`/`;` comments and lines without `=` skipped), turns the dots
 * of the key into slashes and, per key, does nothing but open
 * /proc/sys/KEY (O_WRONLY|O_TRUNC, full path), write `value\n` and close.
 * No messages, no error reporting beyond the exit status, no globs, no
 * `-` prefixes: a real tool cannot be faster than this, only as fast.
 *
 *   floor FILE        (built by tests/bench/run.sh with the system's cc)
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'
			   || end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

int main(int argc, char **argv)
{
	static char data[1 << 20];
	char path[4096] = "/proc/sys/";
	const size_t prefix = strlen(path);
	int failed = 0;

	if (argc != 2) {
		fputs("usage: floor FILE\n", stderr);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 2;
	size_t len = 0;
	for (ssize_t n; (n = read(fd, data + len, sizeof data - 1 - len)) > 0;)
		len += (size_t)n;
	close(fd);
	data[len] = '\0';

	for (char *line = data, *next; line < data + len; line = next) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line));
		next = nl ? nl + 1 : data + len;
		char *eq = memchr(line, '=', (size_t)(next - line));
		if (!eq)
			continue;
		char *key = trim(line, eq);
		char *value = trim(eq + 1, next);
		if (*key == '\0' || *key == '#' || *key == ';')
			continue;
		size_t klen = strlen(key), vlen = strlen(value);
		if (prefix + klen >= sizeof path)
			return 2;
		for (size_t i = 0; i < klen; i++)
			path[prefix + i] = key[i] == '.' ? '/' : key[i];
		path[prefix + klen] = '\0';
		value[vlen] = '\n';
		int out = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (out < 0 || write(out, value, vlen + 1) < 0)
			failed = 1;
		if (out >= 0)
			close(out);
	}
	return failed;
}
