// flowscope: one binary, subcommands. `flowscope --help` lists them; `flowscope CMD --help`
// explains every option of one.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"

#ifndef FLOWSCOPE_VERSION
#define FLOWSCOPE_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{
      "flowscope — zero-code observability: flows, requests and metrics of every process "
      "and packet on this host, without touching the applications."};
  app.name("flowscope");
  app.set_version_flag("--version", FLOWSCOPE_VERSION);
  app.require_subcommand(1);
  app.footer("Run 'flowscope COMMAND --help' for the options of one command.");
  int exit_code = 0;
  flowscope::cli::RegisterPcapCommand(app, &exit_code);
  flowscope::cli::RegisterCaptureCommand(app, &exit_code);
  flowscope::cli::RegisterAgentCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as documented by the commands.
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
