/* jsonpos.c - JSON path -> line:column, by scanning the text jansson already parsed. */
#include "jsonpos.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* jansson's own nesting limit: a deeper text never reaches us, but the scanner bounds itself. */
#define JSONPOS_MAX_DEPTH 2048

static void jsonpos_ws(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
		(*i)++;
}

/* *i on the opening quote; leaves *i after the closing quote. */
static int jsonpos_skip_string(const char *s, size_t len, size_t *i)
{
	size_t j = *i + 1;

	while (j < len) {
		if (s[j] == '\\') {
			j += 2;
			continue;
		}
		if (s[j] == '"') {
			*i = j + 1;
			return 0;
		}
		j++;
	}
	return -1;
}

/* *i on the first character of a value; leaves *i just after it. */
static int jsonpos_skip_value(const char *s, size_t len, size_t *i)
{
	size_t depth = 0;

	if (*i >= len)
		return -1;
	if (s[*i] == '"')
		return jsonpos_skip_string(s, len, i);
	if (s[*i] != '{' && s[*i] != '[') {
		/* number or literal: runs to a delimiter */
		while (*i < len && strchr(",}] \t\r\n", s[*i]) == NULL)
			(*i)++;
		return 0;
	}
	while (*i < len) {
		char c = s[*i];

		if (c == '"') {
			if (jsonpos_skip_string(s, len, i) == -1)
				return -1;
			continue;
		}
		if (c == '{' || c == '[') {
			if (++depth > JSONPOS_MAX_DEPTH)
				return -1;
		} else if (c == '}' || c == ']') {
			if (--depth == 0) {
				(*i)++;
				return 0;
			}
		}
		(*i)++;
	}
	return -1;
}

static int jsonpos_hex4(const char *s, size_t len, size_t i, unsigned *out)
{
	unsigned v = 0;
	size_t k;

	if (i + 4 > len)
		return -1;
	for (k = 0; k < 4; k++) {
		char c = s[i + k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t jsonpos_utf8(unsigned cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Does the JSON string at s[i] (on its quote) decode to exactly `key`? Escapes are decoded the
 * way jansson decodes them, so a key written "priv\u0061cy" is found as "privacy". */
static bool jsonpos_key_equals(const char *s, size_t len, size_t i, const char *key)
{
	size_t j = i + 1, k = 0, klen = strlen(key);

	while (j < len && s[j] != '"') {
		char buf[4];
		size_t n;

		if (s[j] != '\\') {
			if (k >= klen || s[j] != key[k])
				return false;
			j++;
			k++;
			continue;
		}
		if (j + 1 >= len)
			return false;
		switch (s[j + 1]) {
		case '"': case '\\': case '/':
			buf[0] = s[j + 1];
			n = 1;
			j += 2;
			break;
		case 'b': buf[0] = '\b'; n = 1; j += 2; break;
		case 'f': buf[0] = '\f'; n = 1; j += 2; break;
		case 'n': buf[0] = '\n'; n = 1; j += 2; break;
		case 'r': buf[0] = '\r'; n = 1; j += 2; break;
		case 't': buf[0] = '\t'; n = 1; j += 2; break;
		case 'u': {
			unsigned cp, lo;

			if (jsonpos_hex4(s, len, j + 2, &cp) == -1)
				return false;
			j += 6;
			if (cp >= 0xd800 && cp < 0xdc00 && j + 6 <= len && s[j] == '\\' && s[j + 1] == 'u' &&
			    jsonpos_hex4(s, len, j + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				j += 6;
			}
			n = jsonpos_utf8(cp, buf);
			break;
		}
		default:
			return false;
		}
		if (k + n > klen || memcmp(key + k, buf, n) != 0)
			return false;
		k += n;
	}
	return j < len && k == klen;
}

/* Line and column of a byte offset in text (1-based, columns in characters). */
static void jsonpos_offset(const char *text, size_t len, size_t off, int *line, int *column)
{
	size_t i;
	int l = 1, c = 1;

	if (off > len)
		off = len;
	for (i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)text[i];

		if (ch == '\n') {
			l++;
			c = 1;
		} else if ((ch & 0xc0) != 0x80) {
			/* count characters, not bytes: continuation bytes do not move the column */
			c++;
		}
	}
	*line = l;
	*column = c;
}

int jsonpos_locate(const char *text, size_t len, const struct jsonpos_step *steps, size_t nsteps,
		   enum jsonpos_part part, int *line, int *column)
{
	size_t i = 0, k, n, at;

	jsonpos_ws(text, len, &i);
	at = i;
	for (k = 0; k < nsteps; k++) {
		if (i >= len)
			return -1;
		if (steps[k].key != NULL) {
			bool found = false;

			if (text[i] != '{')
				return -1;
			i++;
			jsonpos_ws(text, len, &i);
			if (i < len && text[i] == '}')
				return -1;
			while (!found) {
				size_t keyat;

				jsonpos_ws(text, len, &i);
				if (i >= len || text[i] != '"')
					return -1;
				keyat = i;
				found = jsonpos_key_equals(text, len, i, steps[k].key);
				if (jsonpos_skip_string(text, len, &i) == -1)
					return -1;
				jsonpos_ws(text, len, &i);
				if (i >= len || text[i] != ':')
					return -1;
				i++;
				jsonpos_ws(text, len, &i);
				if (found) {
					at = (k + 1 == nsteps && part == JSONPOS_KEY) ? keyat : i;
					break;
				}
				if (jsonpos_skip_value(text, len, &i) == -1)
					return -1;
				jsonpos_ws(text, len, &i);
				if (i >= len || text[i] != ',')
					return -1;
				i++;
			}
		} else {
			if (text[i] != '[')
				return -1;
			i++;
			jsonpos_ws(text, len, &i);
			if (i < len && text[i] == ']')
				return -1;
			for (n = 0; n < steps[k].index; n++) {
				if (jsonpos_skip_value(text, len, &i) == -1)
					return -1;
				jsonpos_ws(text, len, &i);
				if (i >= len || text[i] != ',')
					return -1;
				i++;
				jsonpos_ws(text, len, &i);
			}
			at = i;
		}
	}
	if (at >= len)
		return -1;
	jsonpos_offset(text, len, at, line, column);
	return 0;
}

int jsonpos_find(const char *text, size_t len, const char *path, enum jsonpos_part part,
		 int *line, int *column)
{
	struct jsonpos_step steps[JSONPOS_MAX_STEPS];
	char keys[JSONPOS_MAX_STEPS][256];
	size_t n = 0;
	const char *p = path;

	while (*p != '\0') {
		if (n == JSONPOS_MAX_STEPS)
			return -1;
		if (*p == '[') {
			char *end;
			unsigned long long v;

			if (p[1] < '0' || p[1] > '9')
				return -1;
			v = strtoull(p + 1, &end, 10);
			if (*end != ']' || v > SIZE_MAX)
				return -1;
			steps[n].key = NULL;
			steps[n].index = (size_t)v;
			n++;
			p = end + 1;
			if (*p == '.')
				p++;
		} else {
			size_t l = strcspn(p, ".[");

			if (l == 0 || l >= sizeof(keys[0]))
				return -1;
			memcpy(keys[n], p, l);
			keys[n][l] = '\0';
			steps[n].key = keys[n];
			steps[n].index = 0;
			n++;
			p += l;
			if (*p == '.') {
				p++;
				if (*p == '\0')
					return -1;
			}
		}
	}
	return jsonpos_locate(text, len, steps, n, part, line, column);
}
