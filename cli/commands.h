// The subcommands of the `ef21` binary. Each takes its own arguments (after the subcommand name)
// and returns the process exit code; errors are printed to stderr.
#ifndef EF21_CLI_COMMANDS_H_
#define EF21_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace ef21 {

int SimulateCommand(const std::vector<std::string>& args);
int RunCommand(const std::vector<std::string>& args);
int AggregatorCommand(const std::vector<std::string>& args);
int WorkerCommand(const std::vector<std::string>& args);
int HealthCommand(const std::vector<std::string>& args);

}  // namespace ef21

#endif  // EF21_CLI_COMMANDS_H_
