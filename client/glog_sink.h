// GlogSink: turns glog log lines into ziggy sub-events.
//
// Each line becomes a ".log" sub-event of the thread's current context (a
// top-level "log" event when there is none), with body fields
//   name: the program's short name,  level: "INFO" | "WARNING" | ...,
//   msg: the message,  file: the source file's base name,  line: its number.
// The type name is configurable, with the same naming rules as contexts.
//
//   ziggy::GlogSink sink;           // or GlogSink(".applog")
//   google::AddLogSink(&sink);
//   ...
//   google::RemoveLogSink(&sink);   // before `sink` is destroyed
//
// Thread-safety: glog calls send() from the logging thread; safe. Lines
// logged while the sink itself is recording (e.g. by a Recorder) are skipped
// rather than recursing.

#ifndef ZIGGY_CLIENT_GLOG_SINK_H_
#define ZIGGY_CLIENT_GLOG_SINK_H_

#include <glog/logging.h>

#include <string>

namespace ziggy {

class GlogSink : public google::LogSink {
 public:
  explicit GlogSink(std::string type_name = ".log");

  void send(google::LogSeverity severity, const char* full_filename,
            const char* base_filename, int line,
            const google::LogMessageTime& time, const char* message,
            size_t message_len) override;

 private:
  const std::string type_name_;
};

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_GLOG_SINK_H_
