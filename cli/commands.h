// Each subcommand registers itself on the root CLI11 app and sets *exit_code when it runs.
#pragma once

#include <CLI/CLI.hpp>

namespace flowscope::cli {

void RegisterPcapCommand(CLI::App& app, int* exit_code);
void RegisterCaptureCommand(CLI::App& app, int* exit_code);
void RegisterAgentCommand(CLI::App& app, int* exit_code);

}  // namespace flowscope::cli
