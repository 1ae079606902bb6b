// STATUS -> Prometheus text: a golden rendering of a small STATUS, label
// escaping, metric names, counters against gauges, and the check that
// every numeric STATUS field has a metric.

#include "common/metrics.h"

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "client/format/value.h"
#include "gtest/gtest.h"

namespace ziggy {
namespace {

TEST(PrometheusTextTest, GoldenSmallCollectorStatus) {
  const Value::Map status = {
      {"daemon", "ziggyd"},
      {"host", "h1"},
      {"pid", 42},
      {"uptime", 1.5},
      {"events",
       Value(Value::Map{
           {"web", Value(Value::Map{{"last", 1700000000.25}, {"count", 3}})},
       })},
      {"received", 4},
      {"dropped", Value(Value::Map{{"malformed", 1}, {"write_error", 0}})},
      {"written", 3},
      {"queue_bytes", 0},
  };
  EXPECT_EQ(
      PrometheusText(status, StatusSchema::kCollector),
      R"(# HELP ziggy_daemon_info Always 1; the labels name the daemon and its host.
# TYPE ziggy_daemon_info gauge
ziggy_daemon_info{daemon="ziggyd",host="h1"} 1
# HELP ziggy_uptime_seconds Seconds since the daemon started.
# TYPE ziggy_uptime_seconds gauge
ziggy_uptime_seconds 1.5
# HELP ziggy_events_received_total Events accepted from the network.
# TYPE ziggy_events_received_total counter
ziggy_events_received_total 4
# HELP ziggy_events_dropped_total Events dropped, by reason.
# TYPE ziggy_events_dropped_total counter
ziggy_events_dropped_total{reason="malformed"} 1
ziggy_events_dropped_total{reason="write_error"} 0
# HELP ziggy_type_events_total Events accepted, by type (at most 10000 types; the rest count in ziggy_untracked_type_events_total).
# TYPE ziggy_type_events_total counter
ziggy_type_events_total{type="web"} 3
# HELP ziggy_type_last_event_timestamp_seconds Unix time an event of the type was last received.
# TYPE ziggy_type_last_event_timestamp_seconds gauge
ziggy_type_last_event_timestamp_seconds{type="web"} 1700000000.25
# HELP ziggy_events_written_total Events written to their files.
# TYPE ziggy_events_written_total counter
ziggy_events_written_total 3
# HELP ziggy_writer_queue_bytes Bytes received and waiting for the writer.
# TYPE ziggy_writer_queue_bytes gauge
ziggy_writer_queue_bytes 0
)");
}

TEST(PrometheusTextTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  const Value::Map status = {
      {"events",
       Value(Value::Map{{"we\"ird\\type\nx", Value(Value::Map{{"count", 2}})},
                        {"caf\xc3\xa9", Value(Value::Map{{"count", 1}})}})},
  };
  const std::string text = PrometheusText(status, StatusSchema::kCollector);
  EXPECT_TRUE(absl::StrContains(
      text, "ziggy_type_events_total{type=\"we\\\"ird\\\\type\\nx\"} 2\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "ziggy_type_events_total{type=\"caf\xc3\xa9\"} 1\n"));
}

TEST(PrometheusTextTest, NumbersKeepTheirPrecision) {
  const Value::Map status = {
      {"last", 1764548000.123456},
      {"lag", 0.1},
      {"received", uint64_t{1} << 62},
      {"uptime", std::numeric_limits<double>::infinity()},
  };
  const std::string text = PrometheusText(status, StatusSchema::kCollector);
  EXPECT_TRUE(absl::StrContains(
      text, "\nziggy_last_event_timestamp_seconds 1764548000.123456\n"));
  EXPECT_TRUE(absl::StrContains(text, "\nziggy_lag_seconds 0.1\n"));
  EXPECT_TRUE(absl::StrContains(
      text, "\nziggy_events_received_total 4611686018427387904\n"));
  EXPECT_TRUE(absl::StrContains(text, "\nziggy_uptime_seconds +Inf\n"));
}

TEST(PrometheusTextTest, UpstreamStatesAreLabels) {
  const Value::Map status = {
      {"relay",
       Value(Value::Map{
           {"current", "c1:3515"},
           {"upstreams",
            Value(Value::Map{
                {"c1:3515", Value(Value::Map{{"state", "up"}, {"acks", 7}})},
                {"c2:3515", Value(Value::Map{{"state", "odd"}})}})},
           {"sent_batches", 9},
       })},
  };
  const std::string text = PrometheusText(status, StatusSchema::kForwarder);
  for (const char* line : {
           "ziggy_relay_current_upstream{upstream=\"c1:3515\"} 1\n",
           "ziggy_relay_upstream_state{upstream=\"c1:3515\",state=\"up\"} 1\n",
           "ziggy_relay_upstream_state{upstream=\"c1:3515\",state=\"down\"} "
           "0\n",
           "ziggy_relay_upstream_state{upstream=\"c2:3515\",state=\"odd\"} 1\n",
           "ziggy_relay_upstream_acks_total{upstream=\"c1:3515\"} 7\n",
           "# TYPE ziggy_relay_sent_batches_total counter\n",
       }) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "\nin\n" << text;
  }
  // The collector's relay section is another one: not read as the
  // forwarder's.
  EXPECT_FALSE(absl::StrContains(
      PrometheusText(status, StatusSchema::kCollector), "upstream"));
}

TEST(PrometheusTextTest, NamesAreValidUniqueAndCountersEndInTotal) {
  for (const StatusSchema schema :
       {StatusSchema::kCollector, StatusSchema::kForwarder}) {
    std::set<std::string> names;
    for (const MetricInfo& metric : ExportedMetrics(schema)) {
      EXPECT_TRUE(IsValidMetricName(metric.name)) << metric.name;
      EXPECT_TRUE(absl::StartsWith(metric.name, "ziggy_")) << metric.name;
      EXPECT_EQ(metric.type == MetricType::kCounter,
                absl::EndsWith(metric.name, "_total"))
          << metric.name;
      EXPECT_FALSE(metric.help.empty()) << metric.name;
      EXPECT_TRUE(names.insert(metric.name).second) << metric.name;
    }
  }
  EXPECT_TRUE(IsValidMetricName("a_b:c9"));
  EXPECT_FALSE(IsValidMetricName("9a"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName(""));
}

TEST(PrometheusTextTest, MissingOrWrongKindFieldsAreLeftOut) {
  const Value::Map status = {{"received", "many"}, {"dropped", 3}};
  EXPECT_EQ(PrometheusText(status, StatusSchema::kCollector),
            "# HELP ziggy_daemon_info Always 1; the labels name the daemon "
            "and its host.\n# TYPE ziggy_daemon_info gauge\n"
            "ziggy_daemon_info{daemon=\"\",host=\"\"} 1\n");
}

TEST(UnexportedFieldsTest, NamesNumbersWithoutAMetric) {
  const Value::Map status = {
      {"pid", 1},
      {"ports", Value(Value::Map{{"control", 3513}})},
      {"received", 1},
      {"events", Value(Value::Map{
                     {"a.b", Value(Value::Map{
                                 {"count", 1}, {"last", 2.0}, {"new", 3}})}})},
      {"spool", Value(Value::Map{{"pending", 1}})},
      {"brand_new_counter", 5},
  };
  EXPECT_EQ(UnexportedFields(status, StatusSchema::kCollector),
            (std::vector<std::string>{"events.a.b.new", "spool.pending",
                                      "brand_new_counter"}));
  EXPECT_EQ(UnexportedFields(status, StatusSchema::kForwarder),
            (std::vector<std::string>{"events.a.b.new", "brand_new_counter"}));
}

}  // namespace
}  // namespace ziggy
