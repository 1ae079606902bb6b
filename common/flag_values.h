// FlagValues: every value of a list flag, collected from argv before gflags
// parses it. gflags keeps only the last value of a flag given twice; the
// readers across a pool of collectors (ziggyview, ziggyctl) take several
// daemons and log paths both ways, repeated and comma-separated:
//
//   ziggyview -H a:3513 -H b:3513,c:3513 --log-path=/a --log-path /b,/c
//
//   std::vector<std::string> hosts = FlagValues(argc, argv, {"H", "host"});
//   gflags::ParseCommandLineFlags(&argc, &argv, true);  // after, as usual
//
// Thread-safety: a pure function.

#ifndef ZIGGY_COMMON_FLAG_VALUES_H_
#define ZIGGY_COMMON_FLAG_VALUES_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ziggy {

// The values of the flags named `names` (without dashes; aliases of one
// flag, e.g. {"H", "host"}) in argv[1..argc), in order, in every form
// gflags accepts: -H v, -H=v, --H v, --H=v (and the same for each name).
// Each value is split at its commas, empty pieces dropped ("a,,b," gives a
// and b), except a value for which `keep_whole` returns true, taken as one
// (ziggyview passes "names an existing file or directory", so that a log
// path with a comma in its name still works when given alone). A value
// given twice is kept once, where it first came (a daemon or log path named
// twice would be read twice). A flag
// name as the last argument, without its value, gives nothing (gflags
// then reports it). Scanning stops at "--", as gflags does.
std::vector<std::string> FlagValues(
    int argc, const char* const* argv, const std::vector<std::string>& names,
    const std::function<bool(absl::string_view)>& keep_whole = nullptr);

}  // namespace ziggy

#endif  // ZIGGY_COMMON_FLAG_VALUES_H_
