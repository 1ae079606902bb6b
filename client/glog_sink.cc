#include "client/glog_sink.h"

#include <errno.h>  // program_invocation_short_name (glibc)

#include "absl/strings/string_view.h"
#include "client/ziggy.h"

namespace ziggy {
namespace {
thread_local bool in_send = false;
}  // namespace

GlogSink::GlogSink(std::string type_name) : type_name_(std::move(type_name)) {}

void GlogSink::send(google::LogSeverity severity, const char* full_filename,
                    const char* base_filename, int line,
                    const google::LogMessageTime& time, const char* message,
                    size_t message_len) {
  if (in_send || !IsConfigured()) return;
  in_send = true;
  {
    Context event(type_name_);
    event.Set("name", program_invocation_short_name);
    event.Set("level", google::GetLogSeverityName(severity));
    event.Set("msg", absl::string_view(message, message_len));
    event.Set("file", base_filename);
    event.Set("line", line);
  }
  in_send = false;
}

}  // namespace ziggy
