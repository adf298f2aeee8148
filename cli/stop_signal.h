// The stop flag of the long-running commands (`capture`, `agent`): set by SIGINT/SIGTERM, by
// --duration, or by a failed write; every loop of the command checks it.
#pragma once

#include <atomic>

namespace flowscope::cli {

// The process-wide flag (lock-free, so a signal handler may set it).
std::atomic<bool>& StopFlag();

// SIGINT/SIGTERM set StopFlag(). No SA_RESTART, so that a blocked poll(2) returns at once;
// SA_RESETHAND, so that a second Ctrl-C kills the process if finishing takes too long. SIGPIPE is
// ignored: a closed pipe (`| head`) shows up as a write error that ends the run cleanly, with
// the summary, instead of killing the process.
void InstallStopSignalHandlers();

}  // namespace flowscope::cli
