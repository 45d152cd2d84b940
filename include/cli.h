/* cli.h - the command-line clients: token, function, admin-key, keygen (admin API or offline). */
#ifndef FNGATE_CLI_H
#define FNGATE_CLI_H

/* Each returns the process exit status (0 ok, 1 failure, 2 usage). argv[0] is the subcommand. */
int cli_token(int argc, char **argv);
int cli_function(int argc, char **argv);
int cli_admin_key(int argc, char **argv);
int cli_keygen(int argc, char **argv);

#endif
