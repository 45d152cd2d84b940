/* console.h - the web console's static files, served by the admin listener at "/". */
#ifndef FNGATE_CONSOLE_H
#define FNGATE_CONSOLE_H

struct console;
struct adminhttp_req;

/* Find the console directory: $FNGATE_WEB_ROOT, else the installed share dir, else the source
 * tree. NULL when there is none or out of memory (then every file is 404). */
struct console *console_open(void);
/* The directory served, or "none", for the log. */
const char *console_root(const struct console *con);
/* Answer GET/HEAD of the request's path: a regular file under the root (never a dot-file or
 * dot-directory, a FIFO or device, or a symlink leaving the root), else 404. Always replies. */
void console_serve(const struct console *con, struct adminhttp_req *req);
/* NULL is fine. */
void console_close(struct console *con);

#endif
