#include "viewer/dashboard_api.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "client/reader/json.h"
#include "client/reader/where.h"

namespace ziggy {
namespace {

// The page's files (k_index_html, k_app_js, k_chart_js, k_style_css),
// generated from viewer/dashboard/ by the BUILD's genrule.
#include "viewer/dashboard_assets.inc"

constexpr size_t kMaxParam = 256;
constexpr char kJson[] = "application/json";

HttpResponse Json(std::string body) { return {200, kJson, std::move(body)}; }

HttpResponse BadRequest(absl::string_view why) {
  std::string body = "{\"error\":";
  AppendJsonString(why, &body);
  body.push_back('}');
  return {400, kJson, std::move(body)};
}

// The parameters of one request, checked as they are read; the first
// problem is kept for the 400.
class Params {
 public:
  explicit Params(const HttpRequest& request) : request_(request) {}

  // A parameter no longer than kMaxParam; required ones non-empty.
  std::string Text(const std::string& name, bool required) {
    auto it = request_.params.find(name);
    const std::string value = it == request_.params.end() ? "" : it->second;
    if (required && value.empty()) Fail(absl::StrCat(name, " is required"));
    if (value.size() > kMaxParam) {
      Fail(absl::StrCat(name, " is longer than ", kMaxParam, " bytes"));
    }
    return value;
  }

  // An integer in [1, max], `fallback` when absent.
  size_t Limit(size_t fallback, size_t max) {
    const std::string text = Text("limit", false);
    if (text.empty()) return fallback;
    size_t n = 0;
    if (!absl::SimpleAtoi(text, &n) || n < 1 || n > max) {
      Fail(absl::StrCat("limit must be an integer from 1 to ", max));
    }
    return n;
  }

  // `field`: empty or a path under body.
  std::string Field() {
    std::string field = Text("field", false);
    if (!field.empty() && !absl::StartsWith(field, "body.")) {
      Fail("field must be a numeric body field (body.<path>)");
    }
    return field;
  }

  // `where`, compiled; nullopt when absent or bad (then failed()).
  absl::optional<Where> Filter() {
    const std::string text = Text("where", false);
    if (text.empty()) return absl::nullopt;
    absl::StatusOr<Where> where = Where::Parse(text);
    if (!where.ok()) {
      Fail(absl::StrCat("where: ", where.status().message()));
      return absl::nullopt;
    }
    return *std::move(where);
  }

  bool failed() const { return !error_.empty(); }
  HttpResponse Error() const { return BadRequest(error_); }

 private:
  void Fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }
  const HttpRequest& request_;
  std::string error_;
};

HttpResponse Asset(const char* type, const char* body) {
  return {200, type, body};
}

HttpResponse SeriesOf(const DashboardModel& model, const HttpRequest& r) {
  Params params(r);
  const std::string type = params.Text("type", true);
  const std::string field = params.Field();
  const absl::optional<Where> where = params.Filter();
  if (params.failed()) return params.Error();
  return Json(model.Series(type, field, where ? &*where : nullptr));
}

HttpResponse EventsOf(const DashboardModel& model, const HttpRequest& r) {
  Params params(r);
  const std::string type = params.Text("type", true);
  const size_t limit = params.Limit(50, 200);
  if (params.failed()) return params.Error();
  return Json(model.Events(type, limit));
}

HttpResponse EventById(const DashboardModel& model, const HttpRequest& r) {
  Params params(r);
  const std::string id = params.Text("id", true);
  if (params.failed()) return params.Error();
  std::string group = model.Event(id);
  if (group.empty()) return {404, kJson, "{\"error\":\"no such event kept\"}"};
  return Json(std::move(group));
}

HttpResponse TopOf(const DashboardModel& model, const HttpRequest& r) {
  Params params(r);
  const std::string type = params.Text("type", true);
  const std::string by = params.Text("by", true);
  const size_t limit = params.Limit(10, 50);
  if (params.failed()) return params.Error();
  return Json(model.Top(type, by, limit));
}

}  // namespace

std::map<std::string, HttpServer::RequestHandler> DashboardRoutes(
    const DashboardModel* model) {
  const DashboardModel& m = *model;
  return {
      {"/",
       [](const HttpRequest&) {
         return Asset("text/html; charset=utf-8", k_index_html);
       }},
      {"/app.js",
       [](const HttpRequest&) {
         return Asset("text/javascript; charset=utf-8", k_app_js);
       }},
      {"/chart.js",
       [](const HttpRequest&) {
         return Asset("text/javascript; charset=utf-8", k_chart_js);
       }},
      {"/style.css",
       [](const HttpRequest&) {
         return Asset("text/css; charset=utf-8", k_style_css);
       }},
      {"/api/types", [&m](const HttpRequest&) { return Json(m.Types()); }},
      {"/api/rates", [&m](const HttpRequest&) { return Json(m.Rates()); }},
      {"/api/status", [&m](const HttpRequest&) { return Json(m.Status()); }},
      {"/api/series", [&m](const HttpRequest& r) { return SeriesOf(m, r); }},
      {"/api/events", [&m](const HttpRequest& r) { return EventsOf(m, r); }},
      {"/api/event", [&m](const HttpRequest& r) { return EventById(m, r); }},
      {"/api/top", [&m](const HttpRequest& r) { return TopOf(m, r); }},
  };
}

}  // namespace ziggy
