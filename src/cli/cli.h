/* Sub-commands of the edgegw binary. Each takes the arguments after its name and
 * returns the process exit code: 0 success, 1 run-time failure, 2 usage or policy error. */
#ifndef EGW_CLI_CLI_H
#define EGW_CLI_CLI_H

int egw_cli_serve(int argc, char **argv);
int egw_cli_token(int argc, char **argv);
int egw_cli_eec(int argc, char **argv);
int egw_cli_kdf(int argc, char **argv);
int egw_cli_sidecar(int argc, char **argv);

#endif
