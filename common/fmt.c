/*
 * fmt.c - decimal numbers and bounded strings without printf (fmt.h).
 */
#include <string.h>

#include "fmt.h"

char *
fmt_u64_pad(char *p, uint64_t v, int width)
{
	char	tmp[FMT_U64_MAX];
	int	n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n < width && n < FMT_U64_MAX)
		tmp[n++] = '0';
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

char *
fmt_u64(char *p, uint64_t v)
{
	return fmt_u64_pad(p, v, 1);
}

char *
fmt_ms3(char *p, uint64_t ns)
{
	uint64_t us = ns / 1000 + (ns % 1000 >= 500);

	p = fmt_u64(p, us / 1000);
	*p++ = '.';
	return fmt_u64_pad(p, us % 1000, 3);
}

char *
fmt_strn(char *p, const char *s, size_t n)
{
	return fmt_mem(p, s, strnlen(s, n));
}

char *
fmt_mem(char *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}
